//! Oracles for the fuzz targets: what the contract (docs/contracts.md) says an
//! input must come out as, written again here without the code under test
//! (no regex, no `starform_labels` validation, no transform rules), so a bug
//! there is not hidden by the same bug here.
//!
//! Panicking is how a fuzz target reports a finding, so the checks here
//! panic with a message naming the input.

pub mod config_rules;
pub mod contract;
pub mod filter_model;
pub mod json;
pub mod log_line;
pub mod records;
