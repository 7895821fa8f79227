//! Starform log label-set transform: validates and normalises the
//! `starform.io/*` pod labels on each log record, per the rulebook in
//! docs/contracts.md ("Log label-set transform").
//!
//! The pure core ([`config`], [`transform()`]) is plain Rust and runs
//! natively in tests and in the VRL twin's differential test; the wasm ABI
//! exports (`abi`) are compiled only for wasm32 WASI.

pub mod base64;
pub mod config;
mod key_memo;
mod label_keys;
mod label_set;
pub mod ndjson;
pub mod outcome;
mod scan;
mod transform;
mod view;

// The exports are for WASI hosts (Fluent Bit, the embedded host): a build
// for another wasm target (a browser) links the core alone.
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod abi;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod heap;
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod preopens;

pub use config::{CompiledConfig, ConfigError, TransformConfig, DEFAULT_MAX_RECORD_BYTES};
pub use label_set::ResolvedLabels;
pub use outcome::{Counts, Outcome, Quarantine, Reason};
pub use scan::Scratch;
pub use transform::{
    apply, compact_len, measured_len, transform, transform_general_into, transform_into,
    transform_unconfigured_into, transform_with_scratch, QUARANTINE_FIELD, RAW_BASE64_FIELD,
    RAW_FIELD, RESERVED_FIELDS, SHADOWED_FIELD,
};

#[cfg(test)]
mod rules_tests;
