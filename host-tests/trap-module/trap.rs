//! TEST-ONLY proxy-wasm module (never shipped, never part of a workspace):
//! answers like a pass-through filter, except that a request carrying the
//! header `x-starform-trap` makes the VM trap (wasm `unreachable`). Built
//! with plain `rustc` for wasm32-wasip1 by host-tests/tests/all/envoy_faults.rs,
//! which checks that Envoy's `failure_policy: FAIL_RELOAD` brings a fresh VM
//! up after the trap.
//!
//! Raw proxy-wasm ABI 0.2.1 with no dependencies: only the callbacks Envoy
//! needs for an HTTP filter are exported.

use std::ffi::c_void;

const LOG_INFO: u32 = 2;
const REQUEST_HEADERS: u32 = 0;
const OK: u32 = 0;
const CONTINUE: u32 = 0;
const TRAP_HEADER: &[u8] = b"x-starform-trap";

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message: *const u8, size: usize) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *mut *mut u8,
        value_size: *mut usize,
    ) -> u32;
}

fn log(message: &str) {
    // SAFETY: the host reads `message` during the call only.
    unsafe { proxy_log(LOG_INFO, message.as_ptr(), message.len()) };
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Memory the host fills (header values): leaked, this module lives for a
/// handful of requests.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut c_void {
    let mut block = Vec::<u8>::with_capacity(size.max(1));
    let ptr = block.as_mut_ptr();
    std::mem::forget(block);
    ptr.cast()
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context: u32, _parent: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root: u32, _size: u32) -> u32 {
    log("trap-module: VM started");
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root: u32, _size: u32) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_context: u32, _headers: u32, _eos: u32) -> u32 {
    let mut value: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes one pointer and one length into our locals.
    let status = unsafe {
        proxy_get_header_map_value(
            REQUEST_HEADERS,
            TRAP_HEADER.as_ptr(),
            TRAP_HEADER.len(),
            &mut value,
            &mut size,
        )
    };
    // A missing header is NOT_FOUND, or OK with no bytes, depending on the
    // host version.
    if status == OK && size > 0 {
        log("trap-module: trapping on request");
        core::arch::wasm32::unreachable();
    }
    CONTINUE
}

#[no_mangle]
pub extern "C" fn proxy_on_log(_context: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_done(_context: u32) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(_context: u32) {}
