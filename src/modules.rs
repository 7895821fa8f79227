//! The wasm modules, compiled by build.rs and embedded in the binary.

/// The proxy-wasm L7 identity filter (`envoy-filter/`), wasm32-wasip1.
pub const ENVOY_FILTER: &[u8] = include_bytes!(env!("STARFORM_ENVOY_FILTER_WASM"));

/// The log label-set transform (`vector-transform/`), wasm32-wasip1.
pub const VECTOR_TRANSFORM: &[u8] = include_bytes!(env!("STARFORM_VECTOR_TRANSFORM_WASM"));

/// File name `export-modules` writes [`ENVOY_FILTER`] to; the shipped
/// bootstrap and Envoy Gateway policy refer to it.
pub const ENVOY_FILTER_FILE: &str = "starform_envoy_filter.wasm";

/// File name `export-modules` writes [`VECTOR_TRANSFORM`] to; the shipped
/// Fluent Bit configuration refers to it.
pub const VECTOR_TRANSFORM_FILE: &str = "starform_vector_transform.wasm";
