//! `starform-wasm`: runs the embedded wasm modules. Each subcommand is one
//! variant of [`Command`] and one file in `src/cli/`.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "starform-wasm",
    version,
    about = "Runs the Starform telemetry-attribution wasm modules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Route(cli::route::Args),
    /// NDJSON log records on stdin through the log label-set transform module.
    Logs(cli::logs::Args),
    /// The VRL program Vector's remap runs in place of the log transform module.
    Vrl(cli::vrl::Args),
    /// Both modules on bundled sample data (and a real Envoy when one is found).
    Demo(cli::demo::Args),
    /// Writes the embedded .wasm modules into a directory (for Envoy, Fluent Bit).
    ExportModules(cli::export_modules::Args),
    /// Serves the browser playground (route names, log records, VRL) on 127.0.0.1.
    Playground(cli::playground::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Route(args) => cli::route::run(args),
        Command::Logs(args) => cli::logs::run(args),
        Command::Vrl(args) => cli::vrl::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::ExportModules(args) => cli::export_modules::run(args),
        Command::Playground(args) => cli::playground::run(args),
    };
    cli::exit(result)
}
