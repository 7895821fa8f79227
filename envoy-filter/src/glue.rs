//! proxy-wasm glue: translates Envoy's callbacks into the core and the core's
//! needs into host calls ([`crate::abi`]). No decisions are made here.
//!
//! Each Envoy worker runs its own VM, so one [`Recorder`] per root context is
//! shared by that root's HTTP contexts; Envoy sums same-named metrics across
//! workers.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use crate::abi::{self, HostBytes, LogLevel, MetricType};
use crate::metrics::{MetricKind, MetricSink, SinkError};
use crate::request::{decode_i64_le, decode_u64_le, FactSource, RequestFacts};
use crate::{Config, Recorder, VERSION_STAMP};

// Property paths, NUL-separated as the ABI wants them, built at compile time
// so a request formats nothing.
const ROUTE_NAME: &[u8] = b"xds\0route_name";
const RESPONSE_CODE: &[u8] = b"response\0code";
const REQUEST_DURATION: &[u8] = b"request\0duration";
const REQUEST_TOTAL_SIZE: &[u8] = b"request\0total_size";
const RESPONSE_TOTAL_SIZE: &[u8] = b"response\0total_size";

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Default)]
struct Root {
    recorder: Option<Rc<RefCell<Recorder>>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        abi::log(LogLevel::Info, &format!("{VERSION_STAMP}: VM started"));
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let parsed = match abi::plugin_configuration(plugin_configuration_size) {
            Ok(bytes) => Config::parse(bytes.as_ref().map_or(&[][..], HostBytes::as_slice))
                .map_err(|e| e.to_string()),
            Err(status) => Err(format!(
                "could not read the plugin configuration (status {status})"
            )),
        };
        match parsed {
            Ok(config) => {
                abi::log(
                    LogLevel::Info,
                    &format!(
                        "{VERSION_STAMP}: configured: preview_policy={}, max_label_sets={}, max_cached_routes={}",
                        config.preview_policy.as_str(),
                        config.max_label_sets,
                        config.max_cached_routes
                    ),
                );
                self.recorder = Some(Rc::new(RefCell::new(Recorder::new(&config))));
                true
            }
            Err(message) => {
                abi::log(
                    LogLevel::Error,
                    &format!("{VERSION_STAMP}: rejected plugin configuration: {message}"),
                );
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Always Some: the dispatcher panics on None.
        Some(Box::new(Http {
            recorder: self.recorder.clone(),
        }))
    }
}

struct Http {
    recorder: Option<Rc<RefCell<Recorder>>>,
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_log(&mut self) {
        let Some(shared) = &self.recorder else {
            return;
        };
        let Ok(mut recorder) = shared.try_borrow_mut() else {
            return;
        };
        let refused_before = recorder.sink_errors().count;
        recorder.record(&mut HostFacts::default(), &mut HostSink);
        let errors = recorder.sink_errors();
        // One line when the host first refuses, not one per request.
        if refused_before == 0 {
            if let Some(e) = errors.last {
                abi::log(
                    LogLevel::Warn,
                    &format!("{VERSION_STAMP}: host refused a metric call ({e}); affected series are dropped"),
                );
            }
        }
    }
}

/// Reads facts from Envoy properties, on demand.
#[derive(Default)]
struct HostFacts {
    route: Option<HostBytes>,
}

fn read_property(path: &[u8]) -> Option<HostBytes> {
    abi::property(path).ok().flatten()
}

impl FactSource for HostFacts {
    fn route_name(&mut self) -> Option<&[u8]> {
        self.route = read_property(ROUTE_NAME);
        self.route.as_ref().map(HostBytes::as_slice)
    }

    fn request_facts(&mut self) -> RequestFacts {
        let u64_of = |path| read_property(path).and_then(|b| decode_u64_le(b.as_slice()));
        RequestFacts {
            response_code: read_property(RESPONSE_CODE).and_then(|b| decode_i64_le(b.as_slice())),
            duration_nanos: u64_of(REQUEST_DURATION),
            request_bytes: u64_of(REQUEST_TOTAL_SIZE),
            response_bytes: u64_of(RESPONSE_TOTAL_SIZE),
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
