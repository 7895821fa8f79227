//! The CLI as a user runs it: the built `starform-wasm` binary, one module
//! per subcommand, in one test binary.

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

mod cli_demo;
mod cli_logs;
mod cli_playground;
mod cli_route;
mod cli_vrl;
