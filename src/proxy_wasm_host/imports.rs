//! The `env` host functions of proxy-wasm ABI 0.2.1 (what proxy-wasm Rust SDK
//! 0.2.5 can import), plus WASI preview 1. Semantics follow Envoy's
//! implementation where the ABI leaves room (statuses, empty values as null
//! pointers, lowercased header names, metric rules).

use wasmtime::{Caller, FuncType, Linker, Val, ValType};

use super::abi::{BufferType, LogLevel, MapType, MetricType, Status};
use super::memory::{self, word, Fault, GuestBytes, HostResult, ReturnSlots};
use super::properties::PropertyPath;
use super::state::{HostState, LogLine};

/// The module every proxy-wasm host function is imported from.
pub(crate) const ENV: &str = "env";

/// Imports of the ABI that no module this host runs calls: the Envoy filter
/// imports nine of the functions defined below (all but
/// `proxy_replace_header_map_value`, which the host's own tests use), and
/// the trap module two of them. These link, so a module importing them still
/// loads, as in Envoy; each call answers `Unimplemented` and is recorded
/// ([`super::FilterHost::unimplemented_calls`]), never a trap.
/// (name, number of i32 parameters)
pub(crate) const UNIMPLEMENTED: [(&str, usize); 27] = [
    ("proxy_get_log_level", 1),
    ("proxy_set_effective_context", 1),
    ("proxy_done", 0),
    ("proxy_get_shared_data", 5),
    ("proxy_set_shared_data", 5),
    ("proxy_set_buffer_bytes", 5),
    ("proxy_set_property", 4),
    ("proxy_get_header_map_pairs", 3),
    ("proxy_set_header_map_pairs", 3),
    ("proxy_add_header_map_value", 5),
    ("proxy_remove_header_map_value", 3),
    ("proxy_continue_stream", 1),
    ("proxy_close_stream", 1),
    ("proxy_send_local_response", 8),
    ("proxy_http_call", 10),
    ("proxy_grpc_call", 12),
    ("proxy_grpc_stream", 9),
    ("proxy_grpc_send", 4),
    ("proxy_grpc_cancel", 1),
    ("proxy_grpc_close", 1),
    ("proxy_get_status", 3),
    ("proxy_register_shared_queue", 3),
    ("proxy_resolve_shared_queue", 5),
    ("proxy_dequeue_shared_queue", 3),
    ("proxy_enqueue_shared_queue", 3),
    ("proxy_call_foreign_function", 6),
    ("proxy_get_metric", 2),
];

type C<'a> = Caller<'a, HostState>;

/// Converts a host function's outcome into its ABI return value.
fn finish(result: HostResult) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok.code()),
        Err(Fault::Status(status)) => Ok(status.code()),
        Err(Fault::Trap(error)) => Err(error),
    }
}

fn check(status: Status) -> HostResult {
    match status {
        Status::Ok => Ok(()),
        other => Err(other.into()),
    }
}

fn size(raw: i32) -> usize {
    usize::try_from(word(raw)).unwrap_or(usize::MAX)
}

/// Links each `$name` to a host function called with the caller and the
/// values made of the guest's `i32` arguments; its outcome becomes the
/// status the guest gets.
macro_rules! link {
    ($linker:ident, $($name:literal => |$($arg:ident),*| $f:ident($($value:expr),*);)+) => {
        $($linker.func_wrap(ENV, $name, |mut c: C<'_>, $($arg: i32),*| {
            finish($f(&mut c, $($value),*))
        })?;)+
    };
}

fn bytes(ptr: i32, len: i32) -> GuestBytes {
    GuestBytes { ptr, len }
}

fn slots(ptr_ptr: i32, size_ptr: i32) -> ReturnSlots {
    ReturnSlots { ptr_ptr, size_ptr }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |state: &mut HostState| &mut state.wasi)?;
    add_runtime(linker)?;
    link!(linker,
        "proxy_log" => |level, ptr, len| log(level, bytes(ptr, len));
        "proxy_get_buffer_bytes" => |kind, start, max, ptr_ptr, size_ptr|
            get_buffer_bytes(kind, start, max, slots(ptr_ptr, size_ptr));
        "proxy_get_property" => |path_ptr, path_len, ptr_ptr, size_ptr|
            get_property(bytes(path_ptr, path_len), slots(ptr_ptr, size_ptr));
        "proxy_get_header_map_value" => |map, kptr, klen, ptr_ptr, size_ptr|
            get_map_value(map, bytes(kptr, klen), slots(ptr_ptr, size_ptr));
        "proxy_replace_header_map_value" => |map, kptr, klen, vptr, vlen|
            replace_map_value(map, bytes(kptr, klen), bytes(vptr, vlen));
        "proxy_define_metric" => |kind, name_ptr, name_len, ret_id|
            define_metric(kind, bytes(name_ptr, name_len), ret_id);
    );
    add_metric_updates(linker)?;
    add_unimplemented(linker)
}

fn add_runtime(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: i32| {
            let now = c.data().clock.now_nanos();
            finish(memory::write_u64(&mut c, ret, now))
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, period: i32| {
            c.data_mut().tick_period_ms = word(period);
            finish(Ok(()))
        },
    )?;
    Ok(())
}

fn log(c: &mut C<'_>, level: i32, message: GuestBytes) -> HostResult {
    let level = LogLevel::from_raw(level).ok_or(Status::BadArgument)?;
    let message = memory::read(c, message)?;
    c.data_mut().logs.push(LogLine {
        level,
        message: String::from_utf8_lossy(&message).into_owned(),
    });
    Ok(())
}

fn get_buffer_bytes(c: &mut C<'_>, kind: i32, start: i32, max: i32, to: ReturnSlots) -> HostResult {
    let kind = BufferType::from_raw(kind).ok_or(Status::BadArgument)?;
    let state = c.data();
    let data = match kind {
        BufferType::VmConfiguration => state.vm_config.clone(),
        BufferType::PluginConfiguration if state.configuring => state.plugin_config.clone(),
        BufferType::HttpRequestBody => state.stream().ok_or(Status::NotFound)?.request_body.clone(),
        BufferType::HttpResponseBody => state
            .stream()
            .ok_or(Status::NotFound)?
            .response_body
            .clone(),
        _ => return Err(Status::NotFound.into()),
    };
    let start = size(start);
    if start > data.len() {
        return Err(Status::BadArgument.into());
    }
    let end = start.saturating_add(size(max)).min(data.len());
    let slice = data.get(start..end).ok_or(Status::BadArgument)?;
    memory::return_bytes(c, slice, to)
}

/// Stream properties first, then VM-wide ones. An empty value comes back as
/// a null pointer (the SDK then reports `None`), as from Envoy.
fn get_property(c: &mut C<'_>, path: GuestBytes, to: ReturnSlots) -> HostResult {
    let path = PropertyPath::from_abi(&memory::read(c, path)?);
    let state = c.data();
    let value = state
        .stream()
        .and_then(|stream| stream.properties.get(&path))
        .or_else(|| state.vm_properties.get(&path))
        .map(<[u8]>::to_vec)
        .ok_or(Status::NotFound)?;
    memory::return_bytes(c, &value, to)
}

/// A missing map is `BadArgument`, except while logging (`NotFound`), as in
/// Envoy.
fn get_map_value(c: &mut C<'_>, map: i32, key: GuestBytes, to: ReturnSlots) -> HostResult {
    let map = MapType::from_raw(map).ok_or(Status::BadArgument)?;
    let key = memory::read(c, key)?;
    let stream = c.data().stream();
    let value = match stream.and_then(|s| s.map(map)) {
        Some(headers) => headers.get(&key).ok_or(Status::NotFound)?.to_vec(),
        None if stream.is_some_and(|s| s.log_phase) => return Err(Status::NotFound.into()),
        None => return Err(Status::BadArgument.into()),
    };
    memory::return_bytes(c, &value, to)
}

fn replace_map_value(c: &mut C<'_>, map: i32, key: GuestBytes, value: GuestBytes) -> HostResult {
    let map = MapType::from_raw(map).ok_or(Status::BadArgument)?;
    let key = memory::read(c, key)?;
    let value = memory::read(c, value)?;
    let headers = c
        .data_mut()
        .stream_mut()
        .and_then(|s| s.map_mut(map))
        .ok_or(Status::BadArgument)?;
    headers.replace(&key, &value);
    Ok(())
}

fn define_metric(c: &mut C<'_>, kind: i32, name: GuestBytes, ret_id: i32) -> HostResult {
    let kind = MetricType::from_raw(kind).ok_or(Status::BadArgument)?;
    let name = memory::read(c, name)?;
    let id = c
        .data_mut()
        .metrics
        .define(kind, &String::from_utf8_lossy(&name))?;
    memory::write_u32(c, ret_id, id)
}

fn add_metric_updates(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_record_metric",
        |mut c: C<'_>, id: i32, value: i64| {
            let value = u64::from_ne_bytes(value.to_ne_bytes());
            finish(check(c.data_mut().metrics.record(word(id), value)))
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_increment_metric",
        |mut c: C<'_>, id: i32, offset: i64| {
            finish(check(c.data_mut().metrics.increment(word(id), offset)))
        },
    )?;
    Ok(())
}

fn add_unimplemented(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    for (name, arity) in UNIMPLEMENTED {
        let ty = FuncType::new(
            linker.engine(),
            std::iter::repeat_n(ValType::I32, arity),
            [ValType::I32],
        );
        linker.func_new(ENV, name, ty, move |mut c: C<'_>, _params, results| {
            c.data_mut().unimplemented_calls.push(name);
            if let Some(result) = results.first_mut() {
                *result = Val::I32(Status::Unimplemented.code());
            }
            Ok(())
        })?;
    }
    Ok(())
}
