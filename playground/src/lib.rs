//! The playground's pure side, shared with the `starform-wasm` CLI: what a
//! route name resolves to and the line `starform-wasm route` prints for it,
//! the log transform over NDJSON as `starform-wasm logs` runs it, and the VRL
//! program `starform-wasm vrl` prints. The CLI formats its output through
//! [`route::line`]; the page calls the same functions through the
//! wasm-bindgen exports in `web` (compiled for wasm32 only).
//!
//! Nothing here re-implements a rule: routes go through the filter's
//! [`Recorder`](starform_envoy_filter::Recorder), records through the
//! transform's [`ndjson::transform_batch`](starform_vector_transform::ndjson::transform_batch),
//! and the VRL program comes from the CLI's own generator source.

pub mod logs;
pub mod route;
pub mod vrl;

#[cfg(target_arch = "wasm32")]
mod web;
