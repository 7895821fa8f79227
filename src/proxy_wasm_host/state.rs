//! Everything one VM's host functions read and write. It lives in the
//! wasmtime `Store`, so each host (and each test) owns its own.

use std::collections::BTreeMap;

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtxBuilder;

use super::abi::{LogLevel, MapType};
use super::clock::Clock;
use super::headers::HeaderMap;
use super::metrics::MetricStore;
use super::properties::Properties;

/// Upper bound on captured WASI stdout/stderr per VM; a module that writes
/// more gets a write error (not a host panic).
const STDIO_CAPACITY: usize = 16 * 1024 * 1024;

/// One `proxy_log` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.level, self.message)
    }
}

/// The per-request state of one HTTP context.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stream {
    pub request_headers: Option<HeaderMap>,
    pub request_trailers: Option<HeaderMap>,
    pub response_headers: Option<HeaderMap>,
    pub response_trailers: Option<HeaderMap>,
    pub request_body: Vec<u8>,
    pub response_body: Vec<u8>,
    pub properties: Properties,
    /// During `proxy_on_log` a missing map reads as `NotFound` rather than
    /// `BadArgument`, as in Envoy's access-log phase.
    pub log_phase: bool,
}

impl Stream {
    pub fn map(&self, map: MapType) -> Option<&HeaderMap> {
        match map {
            MapType::RequestHeaders => self.request_headers.as_ref(),
            MapType::RequestTrailers => self.request_trailers.as_ref(),
            MapType::ResponseHeaders => self.response_headers.as_ref(),
            MapType::ResponseTrailers => self.response_trailers.as_ref(),
            _ => None,
        }
    }

    pub fn map_mut(&mut self, map: MapType) -> Option<&mut HeaderMap> {
        match map {
            MapType::RequestHeaders => self.request_headers.as_mut(),
            MapType::RequestTrailers => self.request_trailers.as_mut(),
            MapType::ResponseHeaders => self.response_headers.as_mut(),
            MapType::ResponseTrailers => self.response_trailers.as_mut(),
            _ => None,
        }
    }
}

/// The store data of one VM.
pub struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) clock: Clock,
    pub(crate) tick_period_ms: u32,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) plugin_config: Vec<u8>,
    /// Envoy exposes the plugin configuration only while `proxy_on_configure` runs.
    pub(crate) configuring: bool,
    pub(crate) metrics: MetricStore,
    pub(crate) vm_properties: Properties,
    pub(crate) streams: BTreeMap<u32, Stream>,
    pub(crate) effective_context: u32,
    pub(crate) unimplemented_calls: Vec<&'static str>,
}

impl HostState {
    pub(crate) fn new(clock: Clock, root_id: u32) -> Self {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        // No preopened directories, no environment, no arguments: the module
        // sees nothing of the machine it runs on.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .build_p1();
        Self {
            wasi,
            stdout,
            stderr,
            logs: Vec::new(),
            clock,
            tick_period_ms: 0,
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            configuring: false,
            metrics: MetricStore::new(),
            vm_properties: Properties::default(),
            streams: BTreeMap::new(),
            effective_context: root_id,
            unimplemented_calls: Vec::new(),
        }
    }

    /// The HTTP context host functions currently act on, if the effective
    /// context is one (the root context has none).
    pub(crate) fn stream(&self) -> Option<&Stream> {
        self.streams.get(&self.effective_context)
    }

    pub(crate) fn stream_mut(&mut self) -> Option<&mut Stream> {
        self.streams.get_mut(&self.effective_context)
    }

    pub(crate) fn stdout(&self) -> Vec<u8> {
        self.stdout.contents().to_vec()
    }

    pub(crate) fn stderr(&self) -> Vec<u8> {
        self.stderr.contents().to_vec()
    }
}
