//! Embedded wasmtime host for the Starform wasm modules, used by the
//! `starform-wasm` CLI and by `host-tests/`.

pub mod modules;
