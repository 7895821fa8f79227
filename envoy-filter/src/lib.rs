//! Starform L7 identity filter (proxy-wasm). Pure core below; the proxy-wasm
//! glue is compiled only for wasm32.
//!
//! The filter derives project/environment/service from the xDS route name
//! (docs/contracts.md §1) and records tenant-labelled request metrics
//! (§3–5). The core knows nothing of proxy-wasm: the host is a
//! [`MetricSink`]; the glue gathers each request's [`RequestFacts`].

pub mod config;
pub mod metrics;
pub mod names;
pub mod policy;
pub mod recorder;
pub mod registry;
pub mod request;
pub mod route;

// The proxy-wasm exports are for WASI hosts (Envoy, the embedded host): a
// build for another wasm target (the browser playground) links the core alone.
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod abi;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod count;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod glue;

pub use config::{Config, ConfigError, PreviewPolicy};
pub use metrics::{MetricKind, MetricSink, SinkError};
pub use policy::{Outcome, Retention};
pub use recorder::Recorder;
pub use request::{CodeClass, RequestFacts};
pub use route::Unattributed;

/// Logged at VM start, so a deployed module identifies itself.
pub const VERSION_STAMP: &str = concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION"));

/// The line logged at VM start: [`VERSION_STAMP`] and "VM started".
pub const VM_STARTED: &str = concat!(
    env!("CARGO_PKG_NAME"),
    " ",
    env!("CARGO_PKG_VERSION"),
    ": VM started"
);
