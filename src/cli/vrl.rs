//! `starform-wasm vrl [--config FILE] [--dropped]`: prints the VRL program
//! Vector's `remap` runs in place of the log transform module (see
//! src/vrl_program and deploy/vector/README.md).
//!
//! Exit codes: 0 success, 2 bad `--config` (unreadable, not JSON, or
//! rejected — the message names the field), 1 anything else.

use std::io::Write;
use std::path::PathBuf;

use starform_vector_transform::TransformConfig;
use starform_wasm::vrl_program;

use super::Failure;

/// Print the VRL twin of the log label-set transform for a configuration.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transform configuration, JSON (docs/contracts.md); default `{}`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the program for the rules remap's `dropped` output instead (it
    /// does not depend on the configuration).
    #[arg(long, conflicts_with = "config")]
    pub dropped: bool,
}

/// Entry point for the subcommand.
pub fn run(args: Args) -> Result<(), Failure> {
    let program = program(&args)?;
    let mut out = std::io::stdout().lock();
    out.write_all(program.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn program(args: &Args) -> Result<String, Failure> {
    if args.dropped {
        return Ok(vrl_program::generate_dropped());
    }
    let Some(path) = &args.config else {
        return vrl_program::generate(&TransformConfig::default())
            .map_err(|e| Failure::runtime(format!("vrl: default configuration: {e}")));
    };
    let bad =
        |message: String| Failure::usage(format!("vrl: --config {}: {message}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    // Names an unknown or mistyped field, as the module's own parsing does.
    let config = TransformConfig::from_json(&bytes).map_err(|e| bad(e.to_string()))?;
    vrl_program::generate(&config).map_err(|e| bad(e.to_string()))
}
