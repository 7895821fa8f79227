//! The VRL program `starform-wasm vrl` prints for a configuration.

// The CLI's generator source, compiled into this crate as well: the root
// crate embeds wasmtime and cannot be built for the browser.
#[allow(dead_code)]
#[path = "../../src/vrl_program/mod.rs"]
mod vrl_program;

use starform_vector_transform::{ConfigError, TransformConfig};

/// The rules program for `config` (JSON). The error names the field.
pub fn program(config: &[u8]) -> Result<String, ConfigError> {
    vrl_program::generate(&TransformConfig::from_json(config)?)
}

/// The program for the rules remap's `dropped` output (`vrl --dropped`).
pub fn dropped_program() -> String {
    vrl_program::generate_dropped()
}
