//! An embedded proxy-wasm host (ABI 0.2.1) on wasmtime, mimicking Envoy:
//! the same callback order, host-function statuses and metric semantics, with
//! everything the module does recorded so tests and the CLI can read it.
//!
//! ```no_run
//! use starform_wasm::proxy_wasm_host::{FilterHost, Request};
//! # fn main() -> Result<(), starform_wasm::proxy_wasm_host::HostError> {
//! let mut host = FilterHost::envoy_filter(br#"{}"#)?;
//! host.request(&Request::to_route("httproute/ns/acme.prod.web/rule/0/match/0/x").duration_ms(12))?;
//! println!("{}", host.prometheus_text());
//! # Ok(()) }
//! ```
//!
//! State lives in each VM's wasmtime `Store`; only the `Engine` and the
//! compiled embedded filter are cached process-wide (immutable, `OnceLock`).
//! Envoy runs one VM per worker thread and sums same-named stats across them:
//! start several [`FilterHost`]s and render them together with
//! [`crate::prometheus::render`] (or [`MetricStore::merge`]) for that view.

mod abi;
mod clock;
mod error;
mod headers;
mod host;
mod imports;
mod memory;
mod metrics;
mod properties;
mod request;
mod state;
#[cfg(test)]
mod tests;

pub use abi::{Action, LogLevel, MetricType};
pub use clock::Clock;
pub use error::HostError;
pub use headers::HeaderMap;
pub use host::{FilterHost, FilterModule, HostOptions, ROOT_CONTEXT_ID};
pub use metrics::{strip_prefix, MetricKey, MetricStore, MetricValue, CUSTOM_STAT_PREFIX};
pub use properties::{paths, value, PropertyPath};
pub use request::{Request, RequestOutcome};
pub use state::LogLine;
