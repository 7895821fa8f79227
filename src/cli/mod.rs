//! The subcommands of `starform-wasm`, one file each. A subcommand is a
//! `clap::Args` struct plus `run(args) -> Result<(), Failure>`, wired in as
//! one variant of `Command` in main.rs.

pub mod demo;
pub mod export_modules;
pub mod logs;
pub mod playground;
pub mod route;
pub mod vrl;

use std::process::ExitCode;

/// Why a subcommand failed, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Bad input — an argument, a file, a configuration: exit code 2 (what
    /// clap uses for usage errors).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// Anything else: exit code 1.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::runtime(format!("writing output: {e}"))
    }
}

/// Prints a failure to stderr and turns the result into the exit code.
pub fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("starform-wasm: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
