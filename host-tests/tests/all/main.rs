//! The tests that load the compiled modules, as one test binary: each
//! module below is one subject, `support` holds what several of them use.
//! One binary links wasmtime and the VRL engine once, not once per subject.
//!
//! A subject's tests alone: `cargo test --release -p starform-host-tests
//! --test all -- <module>::` (for example `-- metrics_pipe::`).

// clippy.toml lets `#[test]` functions unwrap, expect, panic and index; the
// helpers beside them do the same for the same reason (a failed assumption
// is the failure the test reports), and they are not `#[test]` functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

mod envoy_e2e;
mod envoy_faults;
mod envoy_spoofing;
mod filter_attribution;
mod filter_config;
mod filter_previews;
mod fluent_bit_abi;
mod fuzz_regressions;
mod logs_pipe;
mod metrics_pipe;
mod modules_spoofing;
mod operate_alerts;
mod transform_config_file;
mod transform_faults;
mod transform_fluent_bit_config;
mod transform_golden;
mod transform_memory;
mod transform_props;
mod vector_config;
mod vrl_differential;
mod vrl_stale;
