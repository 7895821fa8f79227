//! Benchmark only (`bench/variants.sh`): a proxy-wasm filter with the
//! exports the Starform filter has — context creation, log and done, plus
//! the body callbacks with the feature `body` — doing nothing in them but,
//! per cargo feature, the host calls the Starform filter makes per request
//! (`route`, `clock`, `status`, `histogram`; `all` for every one). Timed
//! beside each other in one bench run, the differences price one kind of VM
//! entry or host call each. Never shipped.

#[cfg(target_arch = "wasm32")]
mod probe {
    use std::cell::{Cell, UnsafeCell};

    const CONTINUE: u32 = 0;
    const TRUE: u32 = 1;

    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_get_property(
            path: *const u8,
            len: usize,
            out: *mut *mut u8,
            out_len: *mut usize,
        ) -> u32;
        fn proxy_get_header_map_value(
            map: u32,
            key: *const u8,
            len: usize,
            out: *mut *mut u8,
            out_len: *mut usize,
        ) -> u32;
        fn proxy_get_current_time_nanoseconds(out: *mut u64) -> u32;
        fn proxy_define_metric(kind: u32, name: *const u8, len: usize, out: *mut u32) -> u32;
        fn proxy_record_metric(id: u32, value: u64) -> u32;
    }

    /// The host's answers land here (one at a time, never read).
    struct Scratch(UnsafeCell<[u8; 4096]>);
    // SAFETY: wasm32 without threads.
    unsafe impl Sync for Scratch {}
    static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; 4096]));

    struct Histogram(Cell<u32>);
    // SAFETY: wasm32 without threads.
    unsafe impl Sync for Histogram {}
    static HISTOGRAM: Histogram = Histogram(Cell::new(0));

    #[allow(dead_code)]
    fn read_answer(read: impl FnOnce(*mut *mut u8, *mut usize) -> u32) {
        let mut ptr = std::ptr::null_mut();
        let mut len = 0;
        let _ = read(&mut ptr, &mut len);
    }

    #[allow(dead_code)]
    fn clock() -> u64 {
        let mut now = 0;
        // SAFETY: the host writes `now` during the call.
        let _ = unsafe { proxy_get_current_time_nanoseconds(&mut now) };
        now
    }

    #[no_mangle]
    pub extern "C" fn _initialize() {}

    #[no_mangle]
    pub extern "C" fn proxy_abi_version_0_2_1() {}

    #[no_mangle]
    pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
        if size <= 4096 {
            SCRATCH.0.get().cast::<u8>()
        } else {
            std::ptr::null_mut()
        }
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_vm_start(_root: u32, _size: usize) -> u32 {
        TRUE
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_configure(_root: u32, _size: usize) -> u32 {
        if cfg!(feature = "histogram") {
            let name = "starform_probe_histogram";
            let mut id = 0;
            // SAFETY: the host reads `name` and writes `id` during the call.
            let _ = unsafe { proxy_define_metric(2, name.as_ptr(), name.len(), &mut id) };
            HISTOGRAM.0.set(id);
        }
        TRUE
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_context_create(_context: u32, parent: u32) {
        if parent == 0 {
            return;
        }
        if cfg!(feature = "route") {
            let path = b"xds\0route_name";
            // SAFETY: the host reads `path` and writes the out pointers.
            read_answer(|p, l| unsafe { proxy_get_property(path.as_ptr(), path.len(), p, l) });
        }
        if cfg!(feature = "clock") {
            clock();
        }
    }

    #[cfg(feature = "body")]
    #[no_mangle]
    pub extern "C" fn proxy_on_request_body(_context: u32, _size: usize, _eos: u32) -> u32 {
        CONTINUE
    }

    #[cfg(feature = "body")]
    #[no_mangle]
    pub extern "C" fn proxy_on_response_body(_context: u32, _size: usize, _eos: u32) -> u32 {
        CONTINUE
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_log(_context: u32) {
        if cfg!(feature = "clock") {
            clock();
        }
        if cfg!(feature = "status") {
            let key = b":status";
            // SAFETY: as for the property.
            read_answer(|p, l| unsafe {
                proxy_get_header_map_value(2, key.as_ptr(), key.len(), p, l)
            });
        }
        if cfg!(feature = "histogram") {
            // SAFETY: plain values.
            let _ = unsafe { proxy_record_metric(HISTOGRAM.0.get(), 1) };
        }
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_done(_context: u32) -> u32 {
        let _ = CONTINUE;
        TRUE
    }
}
