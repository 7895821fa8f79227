//! Embedded wasmtime host for the Starform wasm modules, used by the
//! `starform-wasm` CLI and by `host-tests/`.

pub mod envoy;
pub mod log_host;
pub mod modules;
pub mod prometheus;
pub mod proxy_wasm_host;
pub mod vrl_program;
