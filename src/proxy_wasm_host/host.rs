//! Compiling a proxy-wasm module once and running VMs of it.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{
    Config, Engine, Instance, InstancePre, Linker, Module, Store, WasmParams, WasmResults,
};
use wasmtime_wasi::I32Exit;

use super::abi::Action;
use super::clock::Clock;
use super::error::HostError;
use super::headers::HeaderMap;
use super::imports;
use super::metrics::MetricStore;
use super::properties::{paths, value, PropertyPath};
use super::request::{Request, RequestOutcome};
use super::state::{HostState, LogLine, Stream};

/// The root context's id; HTTP contexts count up from the next one.
pub const ROOT_CONTEXT_ID: u32 = 1;

/// The exports that declare a proxy-wasm ABI this host speaks.
const ABI_MARKERS: [&str; 2] = ["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"];

/// One engine for every module in the process: compiled modules are only
/// usable with the engine that compiled them.
fn engine() -> Result<&'static Engine, HostError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Engine::new(&Config::new()).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| HostError::Engine(e.clone()))
}

/// A compiled and linked proxy-wasm module, ready to start VMs from.
/// Cheap to clone.
#[derive(Clone)]
pub struct FilterModule {
    pre: InstancePre<HostState>,
}

impl FilterModule {
    /// Compiles `bytes` (binary wasm or WAT text) and links it against the
    /// host: an import the host does not provide is an error naming it.
    pub fn compile(bytes: &[u8]) -> Result<Self, HostError> {
        let engine = engine()?;
        let module =
            Module::new(engine, bytes).map_err(|e| HostError::Compile(format!("{e:#}")))?;
        let mut linker = Linker::new(engine);
        imports::add_to_linker(&mut linker).map_err(|e| HostError::Link(format!("{e:#}")))?;
        let pre = match linker.instantiate_pre(&module) {
            Ok(pre) => pre,
            Err(e) => return Err(link_error(engine, &linker, &module, &e)),
        };
        if !ABI_MARKERS
            .iter()
            .any(|marker| module.get_export(marker).is_some())
        {
            return Err(HostError::UnsupportedAbi);
        }
        Ok(Self { pre })
    }

    /// The embedded Envoy filter (`modules::ENVOY_FILTER`), compiled once per
    /// process and shared by every host.
    pub fn envoy_filter() -> Result<&'static Self, HostError> {
        static FILTER: OnceLock<Result<FilterModule, HostError>> = OnceLock::new();
        FILTER
            .get_or_init(|| Self::compile(crate::modules::ENVOY_FILTER))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Turns a link failure into an error naming the missing import when that is
/// the cause (wasmtime's own message covers type mismatches).
fn link_error(
    engine: &Engine,
    linker: &Linker<HostState>,
    module: &Module,
    error: &wasmtime::Error,
) -> HostError {
    let mut scratch = Store::new(engine, HostState::new(Clock::default(), ROOT_CONTEXT_ID));
    for import in module.imports() {
        if linker
            .get(&mut scratch, import.module(), import.name())
            .is_err()
        {
            return HostError::UnknownImport {
                module: import.module().to_owned(),
                name: import.name().to_owned(),
            };
        }
    }
    HostError::Link(format!("{error:#}"))
}

/// How to start a VM.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Bytes of the plugin configuration (`proxy_on_configure`); empty means
    /// none, as when Envoy's `configuration` is unset.
    pub plugin_config: Vec<u8>,
    /// Bytes of the VM configuration (`proxy_on_vm_start`).
    pub vm_config: Vec<u8>,
    /// The clock's start, since the Unix epoch. Default: 2025-01-01T00:00:00Z,
    /// fixed so runs are reproducible.
    pub start_time: Duration,
    /// Properties readable from every context (e.g. `plugin_name`).
    pub vm_properties: Vec<(PropertyPath, Vec<u8>)>,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            start_time: Duration::from_secs(1_735_689_600),
            vm_properties: Vec::new(),
        }
    }
}

/// One VM of a proxy-wasm module with its root context configured, driven
/// like Envoy drives an HTTP filter.
pub struct FilterHost {
    store: Store<HostState>,
    instance: Instance,
    next_context_id: u32,
    failed: Option<String>,
}

/// The HTTP callbacks of one direction of a stream.
struct Callbacks {
    headers: &'static str,
    body: &'static str,
    trailers: &'static str,
}

const REQUEST_CALLBACKS: Callbacks = Callbacks {
    headers: "proxy_on_request_headers",
    body: "proxy_on_request_body",
    trailers: "proxy_on_request_trailers",
};

const RESPONSE_CALLBACKS: Callbacks = Callbacks {
    headers: "proxy_on_response_headers",
    body: "proxy_on_response_body",
    trailers: "proxy_on_response_trailers",
};

/// What one direction of a stream carries: header and trailer counts, body
/// bytes.
struct Parts {
    headers: usize,
    body: usize,
    trailers: usize,
}

/// Context ids and sizes travel as wasm32 `i32` words.
fn raw(n: u32) -> i32 {
    i32::from_ne_bytes(n.to_ne_bytes())
}

fn raw_len(n: usize) -> i32 {
    raw(u32::try_from(n).unwrap_or(u32::MAX))
}

impl FilterHost {
    /// Starts a VM of `module` with `plugin_config` and default options.
    pub fn new(module: &FilterModule, plugin_config: &[u8]) -> Result<Self, HostError> {
        Self::with_options(
            module,
            HostOptions {
                plugin_config: plugin_config.to_vec(),
                ..HostOptions::default()
            },
        )
    }

    /// Starts a VM of the embedded Envoy filter.
    pub fn envoy_filter(plugin_config: &[u8]) -> Result<Self, HostError> {
        Self::new(FilterModule::envoy_filter()?, plugin_config)
    }

    /// Instantiates the module, runs its initialiser, creates the root
    /// context, starts the VM and configures the plugin. A `false` from
    /// `proxy_on_vm_start` / `proxy_on_configure` is
    /// [`HostError::VmStartRejected`] / [`HostError::ConfigurationRejected`]
    /// carrying the module's log lines.
    pub fn with_options(module: &FilterModule, options: HostOptions) -> Result<Self, HostError> {
        let engine = module.pre.module().engine();
        let mut state = HostState::new(
            Clock::new(u64::try_from(options.start_time.as_nanos()).unwrap_or(u64::MAX)),
            ROOT_CONTEXT_ID,
        );
        state.vm_config = options.vm_config;
        state.plugin_config = options.plugin_config;
        for (path, value) in options.vm_properties {
            state.vm_properties.set(path, value);
        }
        let mut store = Store::new(engine, state);
        let instance = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        let mut host = Self {
            store,
            instance,
            next_context_id: ROOT_CONTEXT_ID + 1,
            failed: None,
        };
        host.initialize()?;
        let root = raw(ROOT_CONTEXT_ID);
        host.call::<(i32, i32), ()>("proxy_on_context_create", ROOT_CONTEXT_ID, (root, 0))?;
        let vm_config_len = raw_len(host.store.data().vm_config.len());
        if host.call::<(i32, i32), i32>(
            "proxy_on_vm_start",
            ROOT_CONTEXT_ID,
            (root, vm_config_len),
        )? == Some(0)
        {
            return Err(HostError::VmStartRejected {
                logs: host.store.data().logs.clone(),
            });
        }
        let plugin_config_len = raw_len(host.store.data().plugin_config.len());
        host.store.data_mut().configuring = true;
        let configured = host.call::<(i32, i32), i32>(
            "proxy_on_configure",
            ROOT_CONTEXT_ID,
            (root, plugin_config_len),
        );
        host.store.data_mut().configuring = false;
        if configured? == Some(0) {
            return Err(HostError::ConfigurationRejected {
                logs: host.store.data().logs.clone(),
            });
        }
        Ok(host)
    }

    /// Reactor modules export `_initialize`; a command's `_start` may end with
    /// `proc_exit(0)`, which is success.
    fn initialize(&mut self) -> Result<(), HostError> {
        if self
            .instance
            .get_func(&mut self.store, "_initialize")
            .is_some()
        {
            self.call::<(), ()>("_initialize", ROOT_CONTEXT_ID, ())?;
        } else {
            match self.call::<(), ()>("_start", ROOT_CONTEXT_ID, ()) {
                Err(HostError::Exit { code: 0, .. }) => self.failed = None,
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Calls an exported callback if the module has it (`Ok(None)` if not,
    /// as Envoy skips absent callbacks) with `context` as the effective
    /// context. After a trap the VM takes no more calls, as in Envoy.
    fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        function: &'static str,
        context: u32,
        params: P,
    ) -> Result<Option<R>, HostError> {
        if let Some(failed) = &self.failed {
            return Err(HostError::VmFailed {
                function: failed.clone(),
            });
        }
        let Some(func) = self.instance.get_func(&mut self.store, function) else {
            return Ok(None);
        };
        let typed = func
            .typed::<P, R>(&self.store)
            .map_err(|e| HostError::BadExport {
                function: function.to_owned(),
                detail: format!("{e:#}"),
            })?;
        self.store.data_mut().effective_context = context;
        let result = typed.call(&mut self.store, params);
        self.store.data_mut().effective_context = ROOT_CONTEXT_ID;
        match result {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                self.failed = Some(function.to_owned());
                Err(classify(function, &error))
            }
        }
    }

    fn http_callback<P: WasmParams>(
        &mut self,
        function: &'static str,
        context: u32,
        params: P,
        actions: &mut Vec<(&'static str, Action)>,
    ) -> Result<(), HostError> {
        if let Some(action) = self.call::<P, i32>(function, context, params)? {
            actions.push((function, Action::from_raw(action)));
        }
        Ok(())
    }

    /// Runs one HTTP context through its whole lifecycle:
    /// `proxy_on_context_create`, request headers / body / trailers, response
    /// headers / body / trailers (when `request.status` is set), then — in
    /// the order Envoy's connection manager uses (access log before filter
    /// destruction) — `proxy_on_log`, `proxy_on_done`, `proxy_on_delete`.
    pub fn request(&mut self, request: &Request) -> Result<RequestOutcome, HostError> {
        let id = self.next_context_id;
        self.next_context_id = id.checked_add(1).unwrap_or(ROOT_CONTEXT_ID + 1);
        let mut stream = Stream {
            request_headers: Some(HeaderMap::from_pairs(
                request.request_headers.iter().map(|(k, v)| (k, v)),
            )),
            request_body: request.request_body.clone(),
            ..Stream::default()
        };
        if !request.request_trailers.is_empty() {
            stream.request_trailers = Some(HeaderMap::from_pairs(
                request.request_trailers.iter().map(|(k, v)| (k, v)),
            ));
        }
        if let Some(route) = &request.route_name {
            stream
                .properties
                .set(paths::ROUTE_NAME.into(), route.clone());
        }
        for (path, value) in &request.properties {
            stream.properties.set(path.clone(), value.clone());
        }
        self.store.data_mut().streams.insert(id, stream);
        let mut actions = Vec::new();
        let result = self.run_stream(id, request, &mut actions);
        let stream = self
            .store
            .data_mut()
            .streams
            .remove(&id)
            .unwrap_or_default();
        let done = result?;
        Ok(RequestOutcome {
            context_id: id,
            actions,
            done,
            request_headers: stream.request_headers.unwrap_or_default(),
            response_headers: stream.response_headers,
        })
    }

    fn run_stream(
        &mut self,
        id: u32,
        request: &Request,
        actions: &mut Vec<(&'static str, Action)>,
    ) -> Result<Option<bool>, HostError> {
        let ctx = raw(id);
        self.call::<(i32, i32), ()>("proxy_on_context_create", id, (ctx, raw(ROOT_CONTEXT_ID)))?;

        let request_parts = Parts {
            headers: request.request_headers.len(),
            body: request.request_body.len(),
            trailers: request.request_trailers.len(),
        };
        self.deliver(id, &REQUEST_CALLBACKS, request_parts, actions)?;

        if let Some(status) = request.status {
            let mut headers =
                HeaderMap::from_pairs(request.response_headers.iter().map(|(k, v)| (k, v)));
            if !headers.contains(b":status") {
                headers.add(b":status", status.to_string().as_bytes());
            }
            let response_parts = Parts {
                headers: headers.len(),
                body: request.response_body.len(),
                trailers: request.response_trailers.len(),
            };
            self.with_stream(id, |stream| {
                stream.response_headers = Some(headers);
                stream.response_body = request.response_body.clone();
                if !request.response_trailers.is_empty() {
                    stream.response_trailers = Some(HeaderMap::from_pairs(
                        request.response_trailers.iter().map(|(k, v)| (k, v)),
                    ));
                }
            });
            self.set_unless_given(
                id,
                request,
                paths::RESPONSE_CODE,
                value::int64(i64::from(status)),
            );
            self.deliver(id, &RESPONSE_CALLBACKS, response_parts, actions)?;
        }

        // The request took `duration`: the clock the module reads moves on
        // before the stream ends, as Envoy's would.
        self.store.data().clock.advance(request.duration);
        self.set_unless_given(
            id,
            request,
            paths::REQUEST_DURATION,
            value::duration(request.duration),
        );
        self.set_unless_given(
            id,
            request,
            paths::REQUEST_TOTAL_SIZE,
            value::uint64(request.request_total_size()),
        );
        self.set_unless_given(
            id,
            request,
            paths::RESPONSE_TOTAL_SIZE,
            value::uint64(request.response_total_size()),
        );
        self.with_stream(id, |stream| stream.log_phase = true);
        self.call::<i32, ()>("proxy_on_log", id, ctx)?;
        let done = self
            .call::<i32, i32>("proxy_on_done", id, ctx)?
            .map(|d| d != 0);
        self.call::<i32, ()>("proxy_on_delete", id, ctx)?;
        Ok(done)
    }

    /// One direction of stream `id`: its headers, then its body and its
    /// trailers when it has them, end of stream set on the last callback.
    fn deliver(
        &mut self,
        id: u32,
        callbacks: &Callbacks,
        parts: Parts,
        actions: &mut Vec<(&'static str, Action)>,
    ) -> Result<(), HostError> {
        let ctx = raw(id);
        let has_body = parts.body > 0;
        let has_trailers = parts.trailers > 0;
        let eos = i32::from(!has_body && !has_trailers);
        let n = raw_len(parts.headers);
        self.http_callback(callbacks.headers, id, (ctx, n, eos), actions)?;
        if has_body {
            let len = raw_len(parts.body);
            let eos = i32::from(!has_trailers);
            self.http_callback(callbacks.body, id, (ctx, len, eos), actions)?;
        }
        if has_trailers {
            let n = raw_len(parts.trailers);
            self.http_callback(callbacks.trailers, id, (ctx, n), actions)?;
        }
        Ok(())
    }

    fn with_stream(&mut self, id: u32, edit: impl FnOnce(&mut Stream)) {
        if let Some(stream) = self.store.data_mut().streams.get_mut(&id) {
            edit(stream);
        }
    }

    fn set_unless_given(&mut self, id: u32, request: &Request, path: &str, value: Vec<u8>) {
        let path = PropertyPath::from(path);
        if request.properties.iter().any(|(given, _)| *given == path) {
            return;
        }
        self.with_stream(id, |stream| stream.properties.set(path, value));
    }

    /// `proxy_on_tick` on the root context. The caller decides when time
    /// has passed (see [`FilterHost::tick_period`], [`FilterHost::clock`]).
    pub fn tick(&mut self) -> Result<(), HostError> {
        self.call::<i32, ()>("proxy_on_tick", ROOT_CONTEXT_ID, raw(ROOT_CONTEXT_ID))?;
        Ok(())
    }

    /// The period the module asked for, `None` when it asked for none.
    pub fn tick_period(&self) -> Option<Duration> {
        match self.store.data().tick_period_ms {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        }
    }

    /// The VM's clock; setting or advancing it is what the module sees next.
    pub fn clock(&self) -> Clock {
        self.store.data().clock.clone()
    }

    pub fn metrics(&self) -> &MetricStore {
        &self.store.data().metrics
    }

    /// Every `proxy_log` line so far.
    pub fn logs(&self) -> &[LogLine] {
        &self.store.data().logs
    }

    pub fn take_logs(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.store.data_mut().logs)
    }

    /// What the module wrote to WASI stdout / stderr.
    pub fn stdout(&self) -> Vec<u8> {
        self.store.data().stdout()
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.store.data().stderr()
    }

    /// Names of the unimplemented host functions the module called, in order.
    pub fn unimplemented_calls(&self) -> &[&'static str] {
        &self.store.data().unimplemented_calls
    }

    /// This VM's metrics as Envoy's `/stats/prometheus` would render them,
    /// with the project's tag extraction and default buckets.
    pub fn prometheus_text(&self) -> String {
        crate::prometheus::render(
            [self.metrics()],
            &crate::prometheus::RenderOptions::default(),
        )
    }
}

fn classify(function: &str, error: &wasmtime::Error) -> HostError {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return HostError::Exit {
            function: function.to_owned(),
            code: exit.0,
        };
    }
    HostError::Trap {
        function: function.to_owned(),
        detail: format!("{error:#}"),
    }
}
