//! proxy-wasm glue: the ABI 0.2.1 exports Envoy calls, translated into the
//! core ([`Recorder`]) and the core's needs into host calls ([`crate::abi`]).
//! No decisions are made here.
//!
//! Each Envoy worker runs its own VM; one [`Recorder`] per root context is
//! shared by that root's HTTP contexts, and Envoy sums same-named metrics
//! across workers. Callbacks the filter has no use for (request and response
//! headers and trailers, metadata, `proxy_on_delete`, network filters) are
//! not exported at all, so Envoy skips them instead of entering the VM.
//!
//! Per request the module is entered at the stream's context creation, once
//! per body chunk, at the log and at done (nothing else is exported). The
//! route name is read once, at the context creation (Envoy creates it when
//! the request headers reach the filter; the route is chosen by then); an
//! attributed request then reads the clock there and at the log, `:status`
//! at the log, and takes its sizes from the body callbacks' arguments.
//! Everything else waits in VM memory for the tick.

use std::cell::RefCell;

use hashbrown::HashMap;

use crate::abi::{self, HostBytes, LogLevel, MetricType};
use crate::count::{self, Kind, StreamCall};
use crate::metrics::{MetricKind, MetricSink, SinkError};
use crate::request::{parse_status, RequestFacts};
use crate::{Config, Outcome, Recorder, VERSION_STAMP};

// Property path, NUL-separated as the ABI wants it.
const ROUTE_NAME: &[u8] = b"xds\0route_name";
const STATUS: &[u8] = b":status";

/// How often counts held in VM memory are handed to Envoy.
pub const FLUSH_PERIOD_MS: u32 = 1000;

// proxy-wasm `Action::Continue` and the ABI's booleans.
const CONTINUE: u32 = 0;
const TRUE: u32 = 1;
const FALSE: u32 = 0;

/// One VM's contexts. Root contexts are few (one per plugin sharing the
/// VM); streams are the requests in flight on this worker.
#[derive(Default)]
struct Vm {
    roots: HashMap<u32, Root>,
    streams: HashMap<u32, Stream>,
}

#[derive(Default)]
struct Root {
    /// `None` until a configuration was accepted: requests are then not
    /// counted at all (Envoy refuses to run a plugin whose configure failed).
    recorder: Option<Recorder>,
}

struct Stream {
    root: u32,
    outcome: Outcome,
    started_nanos: Option<u64>,
    facts: RequestFacts,
}

thread_local! {
    // A VM is single-threaded; the exports below are its only entry points.
    static VM: RefCell<Vm> = RefCell::new(Vm::default());
}

/// Runs `f` on the VM state. A re-entrant call (the host calling back into
/// the VM from inside a host call) finds it borrowed and does nothing rather
/// than trap.
fn with_vm<R: Default>(f: impl FnOnce(&mut Vm) -> R) -> R {
    VM.with(|vm| {
        vm.try_borrow_mut()
            .map(|mut vm| f(&mut vm))
            .unwrap_or_default()
    })
}

fn with_stream(context_id: u32, f: impl FnOnce(&mut Stream)) {
    with_vm(|vm| {
        if let Some(stream) = vm.streams.get_mut(&context_id) {
            f(stream);
        }
    });
}

fn read_route_name() -> Option<HostBytes> {
    abi::property(ROUTE_NAME).ok().flatten()
}

fn now() -> Option<u64> {
    abi::now_nanos().ok()
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// Reactor initialisation (static constructors of the C runtime).
#[no_mangle]
pub extern "C" fn _initialize() {
    // SAFETY: the linker-provided constructor list, run once by the host
    // before any other export.
    #[cfg(target_os = "wasi")]
    unsafe {
        __wasm_call_ctors();
    }
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    count::hit(Kind::EntryMemoryAllocate);
    abi::allocate(size)
}

/// A root context is registered; a stream (parent non-zero) of a configured
/// root gets its outcome here, from the route name: Envoy creates the
/// stream's context when the request headers reach the filter (the route is
/// chosen by then), so no request-headers callback is needed. An
/// attributed stream also takes its start time here.
#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_context_id: u32) {
    let _call = StreamCall::enter(Kind::EntryContextCreate);
    with_vm(|vm| {
        if parent_context_id == 0 {
            vm.roots.entry(context_id).or_default();
            return;
        }
        let Some(recorder) = vm
            .roots
            .get_mut(&parent_context_id)
            .and_then(|root| root.recorder.as_mut())
        else {
            return;
        };
        let route = read_route_name();
        let outcome = recorder.outcome(route.as_ref().map(HostBytes::as_slice));
        drop(route);
        let started_nanos = match outcome {
            Outcome::Attributed(_) => now(),
            _ => None,
        };
        vm.streams.insert(
            context_id,
            Stream {
                root: parent_context_id,
                outcome,
                started_nanos,
                facts: RequestFacts::default(),
            },
        );
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_context_id: u32, _vm_configuration_size: usize) -> u32 {
    abi::log(LogLevel::Info, crate::VM_STARTED);
    TRUE
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(
    root_context_id: u32,
    plugin_configuration_size: usize,
) -> u32 {
    let parsed = match abi::plugin_configuration(plugin_configuration_size) {
        // The error's message is one line whatever the configuration holds.
        Ok(bytes) => Config::parse(bytes.as_ref().map_or(&[][..], HostBytes::as_slice))
            .map_err(|e| e.to_string()),
        Err(status) => Err(format!("unreadable plugin configuration (status {status})")),
    };
    let config = match parsed {
        Ok(config) => config,
        Err(message) => {
            abi::log(
                LogLevel::Error,
                &format!("{VERSION_STAMP}: rejected plugin configuration: {message}"),
            );
            return FALSE;
        }
    };
    if let Err(status) = abi::set_tick_period(FLUSH_PERIOD_MS) {
        abi::log(
            LogLevel::Error,
            &format!(
                "{VERSION_STAMP}: tick period refused (status {status}): counters cannot flush"
            ),
        );
        return FALSE;
    }
    abi::log(
        LogLevel::Info,
        &format!(
            "{VERSION_STAMP}: configured: preview_policy={}, max_label_sets={}, max_cached_routes={}",
            config.preview_policy.as_str(),
            config.max_label_sets,
            config.max_cached_routes
        ),
    );
    let recorder = Recorder::new(&config);
    with_vm(|vm| {
        vm.roots.entry(root_context_id).or_default().recorder = Some(recorder);
    });
    TRUE
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root_context_id: u32) {
    flush(root_context_id);
    count::flush();
}

fn flush(root_context_id: u32) {
    with_vm(|vm| {
        if let Some(recorder) = vm
            .roots
            .get_mut(&root_context_id)
            .and_then(|root| root.recorder.as_mut())
        {
            let refused_before = recorder.sink_errors().count;
            recorder.flush(&mut HostSink);
            warn_on_first_refusal(recorder, refused_before);
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(
    context_id: u32,
    body_size: usize,
    _end_of_stream: u32,
) -> u32 {
    add_body_bytes(Kind::EntryRequestBody, context_id, body_size, |facts| {
        &mut facts.request_bytes
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(
    context_id: u32,
    body_size: usize,
    _end_of_stream: u32,
) -> u32 {
    add_body_bytes(Kind::EntryResponseBody, context_id, body_size, |facts| {
        &mut facts.response_bytes
    })
}

/// Both body callbacks: a chunk's size added to the stream's count for its
/// direction. Generic over `bytes` so each callback compiles to its own
/// field access, as if written out.
#[inline]
fn add_body_bytes(
    kind: Kind,
    context_id: u32,
    body_size: usize,
    bytes: impl FnOnce(&mut RequestFacts) -> &mut u64,
) -> u32 {
    let _call = StreamCall::enter(kind);
    with_stream(context_id, |stream| {
        let total = bytes(&mut stream.facts);
        *total = total.saturating_add(body_size as u64);
    });
    CONTINUE
}

/// The end of a stream (Envoy's access-log phase, after the response):
/// the stream's state ends here. The status is the `:status` of the
/// response headers sent downstream, which Envoy exposes in this phase.
#[no_mangle]
pub extern "C" fn proxy_on_log(context_id: u32) {
    let _call = StreamCall::enter(Kind::EntryLog);
    with_vm(|vm| {
        let Vm { roots, streams } = vm;
        let Some(mut stream) = streams.remove(&context_id) else {
            return;
        };
        let Some(recorder) = roots
            .get_mut(&stream.root)
            .and_then(|root| root.recorder.as_mut())
        else {
            return;
        };
        if let Outcome::Attributed(_) = stream.outcome {
            if let Some(start) = stream.started_nanos {
                stream.facts.duration_nanos = now().and_then(|end| end.checked_sub(start));
            }
            stream.facts.response_code = abi::response_header(STATUS)
                .ok()
                .flatten()
                .and_then(|value| parse_status(value.as_slice()));
        }
        let refused_before = recorder.sink_errors().count;
        recorder.record(stream.outcome, &stream.facts, &mut HostSink);
        warn_on_first_refusal(recorder, refused_before);
    });
}

/// A stream's state normally ended at its log; one that never logged ends
/// here. A root context ends with its plugin (configuration change, drain):
/// it hands over what is still counted only here, and its state goes.
/// `proxy_on_delete` is not exported: after this there is nothing to free,
/// and Envoy does not enter the VM for a callback the module lacks.
#[no_mangle]
pub extern "C" fn proxy_on_done(context_id: u32) -> u32 {
    let _call = StreamCall::enter(Kind::EntryDone);
    let was_stream = with_vm(|vm| vm.streams.remove(&context_id).is_some());
    if !was_stream {
        flush(context_id);
        with_vm(|vm| vm.roots.remove(&context_id));
    }
    TRUE
}

/// One line when the host first refuses a metric call, not one per request.
fn warn_on_first_refusal(recorder: &Recorder, refused_before: u64) {
    if refused_before == 0 {
        if let Some(e) = recorder.sink_errors().last {
            abi::log(
                LogLevel::Warn,
                &format!("{VERSION_STAMP}: metric call refused ({e}): series dropped"),
            );
        }
    }
}

/// Envoy's stats through proxy-wasm metrics.
struct HostSink;

impl MetricSink for HostSink {
    fn define(&mut self, kind: MetricKind, name: &str) -> Result<u32, SinkError> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Histogram => MetricType::Histogram,
        };
        abi::define_metric(kind, name).map_err(SinkError)
    }

    fn increment(&mut self, id: u32, offset: u64) -> Result<(), SinkError> {
        abi::increment_metric(id, i64::try_from(offset).unwrap_or(i64::MAX)).map_err(SinkError)
    }

    fn record(&mut self, id: u32, value: u64) -> Result<(), SinkError> {
        abi::record_metric(id, value).map_err(SinkError)
    }
}
