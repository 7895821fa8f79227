//! Guest memory access for host functions. Every guest pointer is checked;
//! an out-of-range access is reported to the guest as `InvalidMemoryAccess`
//! (as Envoy does), never a host panic. Only a failure of the guest's own
//! allocator is fatal (a trap), because the guest cannot recover from it.

use wasmtime::{Caller, Extern, Memory};

use super::abi::Status;
use super::state::HostState;

/// Why a host function did not complete normally.
pub(crate) enum Fault {
    /// Report this status to the guest.
    Status(Status),
    /// Abort the guest call with this error.
    Trap(wasmtime::Error),
}

impl From<Status> for Fault {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

pub(crate) type HostResult<T = ()> = Result<T, Fault>;

/// Guest words are `i32` on the wire but addresses and sizes are unsigned.
pub(crate) fn word(raw: i32) -> u32 {
    u32::from_ne_bytes(raw.to_ne_bytes())
}

/// Bytes the guest hands the host: where they start in its memory, and how
/// many.
#[derive(Clone, Copy)]
pub(crate) struct GuestBytes {
    pub ptr: i32,
    pub len: i32,
}

/// Where the guest wants a buffer the host returns: the addresses the host
/// writes the buffer's pointer and its size to.
#[derive(Clone, Copy)]
pub(crate) struct ReturnSlots {
    pub ptr_ptr: i32,
    pub size_ptr: i32,
}

fn memory(caller: &mut Caller<'_, HostState>) -> HostResult<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(Status::InvalidMemoryAccess.into()),
    }
}

fn range(ptr: i32, len: i32) -> HostResult<std::ops::Range<usize>> {
    let start = usize::try_from(word(ptr)).map_err(|_| Status::InvalidMemoryAccess)?;
    let len = usize::try_from(word(len)).map_err(|_| Status::InvalidMemoryAccess)?;
    let end = start.checked_add(len).ok_or(Status::InvalidMemoryAccess)?;
    Ok(start..end)
}

/// Copies `bytes` out of guest memory.
pub(crate) fn read(caller: &mut Caller<'_, HostState>, bytes: GuestBytes) -> HostResult<Vec<u8>> {
    let memory = memory(caller)?;
    let bytes = memory
        .data(&*caller)
        .get(range(bytes.ptr, bytes.len)?)
        .ok_or(Status::InvalidMemoryAccess)?;
    Ok(bytes.to_vec())
}

/// Writes `bytes` at `ptr` into guest memory.
pub(crate) fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> HostResult {
    let memory = memory(caller)?;
    let len = i32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let target = memory
        .data_mut(&mut *caller)
        .get_mut(range(ptr, len)?)
        .ok_or(Status::InvalidMemoryAccess)?;
    target.copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, value: u32) -> HostResult {
    write(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(caller: &mut Caller<'_, HostState>, ptr: i32, value: u64) -> HostResult {
    write(caller, ptr, &value.to_le_bytes())
}

/// Hands `bytes` to the guest: allocates with the module's allocator, copies,
/// and stores the pointer and size in `slots`. Empty data is returned as a
/// null pointer without allocating, as Envoy does.
pub(crate) fn return_bytes(
    caller: &mut Caller<'_, HostState>,
    bytes: &[u8],
    slots: ReturnSlots,
) -> HostResult {
    let size = u32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let ptr = if bytes.is_empty() {
        0
    } else {
        allocate(caller, size)?
    };
    write(caller, ptr, bytes)?;
    write_u32(caller, slots.ptr_ptr, word(ptr))?;
    write_u32(caller, slots.size_ptr, size)
}

/// The export proxy-wasm SDKs provide for host-to-guest allocations, and the
/// libc name some older SDKs use instead.
pub(crate) const ALLOCATORS: [&str; 2] = ["proxy_on_memory_allocate", "malloc"];

fn allocate(caller: &mut Caller<'_, HostState>, size: u32) -> HostResult<i32> {
    let Some(func) = ALLOCATORS
        .iter()
        .find_map(|name| caller.get_export(name).and_then(Extern::into_func))
    else {
        return Err(Fault::Trap(wasmtime::format_err!(
            "the module exports neither `proxy_on_memory_allocate` nor `malloc`, so the host cannot return data to it"
        )));
    };
    let typed = func.typed::<i32, i32>(&*caller).map_err(|e| {
        Fault::Trap(e.context("the module's allocator does not have the signature (i32) -> i32"))
    })?;
    let size = i32::from_ne_bytes(size.to_ne_bytes());
    let ptr = typed
        .call(&mut *caller, size)
        .map_err(|e| Fault::Trap(e.context("the module's allocator failed")))?;
    if ptr == 0 {
        return Err(Fault::Trap(wasmtime::format_err!(
            "the module's allocator returned null for {size} bytes"
        )));
    }
    Ok(ptr)
}
