//! The few proxy-wasm (ABI 0.2.1) host calls the filter makes. The filter
//! does not use the `proxy-wasm` SDK: its hostcalls `panic!` on statuses they
//! do not expect (a trap, and a fail-closed filter then answers 503 to every
//! request), and its dispatcher boxes a trait object per context and looks
//! it up on every callback. Here every status is a plain `u32` and every
//! non-zero one is an `Err`; the exports are in [`crate::glue`].

use std::cell::{Cell, UnsafeCell};
use std::ptr::{null_mut, NonNull};

use crate::count::{self, Kind};

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

/// proxy-wasm `LogLevel`.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum LogLevel {
    Info = 2,
    Warn = 3,
    Error = 4,
}

/// proxy-wasm `MetricType`.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum MetricType {
    Counter = 0,
    Histogram = 2,
}

/// proxy-wasm `BufferType::PluginConfiguration`.
const PLUGIN_CONFIGURATION: u32 = 7;

/// proxy-wasm `MapType::HttpResponseHeaders`.
const RESPONSE_HEADERS: u32 = 2;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}

/// Bytes the host wrote into memory it obtained from this module's
/// `proxy_on_memory_allocate` ([`allocate`]), released on drop.
pub struct HostBytes {
    ptr: NonNull<u8>,
    len: usize,
}

impl HostBytes {
    /// # Safety
    /// `ptr` came from `proxy_on_memory_allocate(len)` and is owned by the
    /// caller.
    unsafe fn adopt(ptr: *mut u8, len: usize) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| HostBytes { ptr, len })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `adopt`'s contract: `len` initialised bytes at `ptr`, owned
        // by `self` until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for HostBytes {
    fn drop(&mut self) {
        if SCRATCH.release(self.ptr.as_ptr()) {
            return;
        }
        // SAFETY: not the scratch buffer, so allocated as a `Box<[u8]>` of
        // `len` bytes by `allocate`, freed exactly once here.
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ))
        });
    }
}

/// Bytes in the scratch buffer: longer than any route name Envoy Gateway
/// writes (the host's answers per request are the route name and
/// `:status`), so per request nothing is allocated.
const SCRATCH_LEN: usize = 512;

/// One reusable buffer for the host's answers: a request reads one value
/// at a time and releases it before the next read, so after the first
/// request no answer costs an allocation.
struct Scratch {
    bytes: UnsafeCell<[u8; SCRATCH_LEN]>,
    in_use: Cell<bool>,
}

// SAFETY: wasm32 without threads: the module runs on one thread, and the
// exports are its only entry points.
unsafe impl Sync for Scratch {}

static SCRATCH: Scratch = Scratch {
    bytes: UnsafeCell::new([0; SCRATCH_LEN]),
    in_use: Cell::new(false),
};

impl Scratch {
    fn take(&self, size: usize) -> Option<*mut u8> {
        if size > SCRATCH_LEN || self.in_use.get() {
            return None;
        }
        self.in_use.set(true);
        Some(self.bytes.get().cast::<u8>())
    }

    /// True if `ptr` is this buffer (now free again).
    fn release(&self, ptr: *mut u8) -> bool {
        if ptr == self.bytes.get().cast::<u8>() {
            self.in_use.set(false);
            true
        } else {
            false
        }
    }
}

/// Memory for the host to return data in (`proxy_on_memory_allocate`): the
/// scratch buffer when it is free and large enough, else a boxed slice of
/// `size` bytes; adopted and released by [`HostBytes`].
pub fn allocate(size: usize) -> *mut u8 {
    SCRATCH
        .take(size)
        .unwrap_or_else(|| Box::into_raw(Box::<[u8]>::new_uninit_slice(size)).cast::<u8>())
}

fn status(code: u32) -> Result<(), u32> {
    if code == OK {
        Ok(())
    } else {
        Err(code)
    }
}

/// Writes one log line; a refused log line is dropped (there is nowhere
/// else to report it).
pub fn log(level: LogLevel, message: &str) {
    // SAFETY: the host reads `message` during the call only.
    let _ = unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// A property; `path` is its segments joined by NUL (e.g. `b"xds\0route_name"`).
/// `Ok(None)` when absent.
pub fn property(path: &[u8]) -> Result<Option<HostBytes>, u32> {
    count::hit(Kind::HostGetProperty);
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: the host reads `path` during the call and writes the out
    // pointers; the returned buffer is then ours.
    let code = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    match code {
        // SAFETY: on OK the host allocated `data` (`size` bytes) for us.
        OK => Ok(unsafe { HostBytes::adopt(data, size) }),
        NOT_FOUND => Ok(None),
        other => Err(other),
    }
}

/// The plugin configuration `on_configure` was given (`size` bytes).
pub fn plugin_configuration(size: usize) -> Result<Option<HostBytes>, u32> {
    if size == 0 {
        return Ok(None);
    }
    let mut data: *mut u8 = null_mut();
    let mut len: usize = 0;
    // SAFETY: as in `property`.
    let code =
        unsafe { proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, size, &mut data, &mut len) };
    match code {
        // SAFETY: as in `property`.
        OK => Ok(unsafe { HostBytes::adopt(data, len) }),
        NOT_FOUND => Ok(None),
        other => Err(other),
    }
}

pub fn define_metric(kind: MetricType, name: &str) -> Result<u32, u32> {
    count::hit(Kind::HostDefineMetric);
    let mut id: u32 = 0;
    // SAFETY: the host reads `name` during the call and writes `id`.
    status(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, offset: i64) -> Result<(), u32> {
    count::hit(Kind::HostIncrementMetric);
    // SAFETY: plain values.
    status(unsafe { proxy_increment_metric(id, offset) })
}

pub fn record_metric(id: u32, value: u64) -> Result<(), u32> {
    count::hit(Kind::HostRecordMetric);
    // SAFETY: plain values.
    status(unsafe { proxy_record_metric(id, value) })
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn now_nanos() -> Result<u64, u32> {
    count::hit(Kind::HostGetCurrentTime);
    let mut now: u64 = 0;
    // SAFETY: the host writes `now` during the call.
    status(unsafe { proxy_get_current_time_nanoseconds(&mut now) })?;
    Ok(now)
}

/// Asks for `proxy_on_tick` every `millis` on this root context.
pub fn set_tick_period(millis: u32) -> Result<(), u32> {
    // SAFETY: a plain value.
    status(unsafe { proxy_set_tick_period_milliseconds(millis) })
}

/// A response header's value (`Ok(None)` when absent).
pub fn response_header(name: &[u8]) -> Result<Option<HostBytes>, u32> {
    count::hit(Kind::HostGetHeaderMapValue);
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: as in `property`.
    let code = unsafe {
        proxy_get_header_map_value(
            RESPONSE_HEADERS,
            name.as_ptr(),
            name.len(),
            &mut data,
            &mut size,
        )
    };
    match code {
        // SAFETY: as in `property`.
        OK => Ok(unsafe { HostBytes::adopt(data, size) }),
        NOT_FOUND => Ok(None),
        other => Err(other),
    }
}
