//! The wasm modules, compiled by build.rs and embedded in the binary.

/// The proxy-wasm L7 identity filter (`envoy-filter/`), wasm32-wasip1.
pub const ENVOY_FILTER: &[u8] = include_bytes!(env!("STARFORM_ENVOY_FILTER_WASM"));

/// The log label-set transform (`vector-transform/`), wasm32-wasip1.
pub const VECTOR_TRANSFORM: &[u8] = include_bytes!(env!("STARFORM_VECTOR_TRANSFORM_WASM"));
