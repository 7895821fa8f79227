//! `starform-wasm logs [--config FILE]`: NDJSON records on stdin through the
//! compiled log transform module, one output record per input line on
//! stdout, in order; `accepted N, quarantined M (reason: n, …)` on stderr.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use starform_vector_transform::Counts;

use super::Failure;
use starform_wasm::log_host::{LogHostError, LogTransform};

/// Input handed to the module per call: whole lines, about this many bytes
/// (a longer line goes alone).
const BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transform configuration, JSON (docs/contracts.md); default `{}`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Why `logs` stopped.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("--config {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{0}")]
    Host(#[from] LogHostError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<LogsError> for Failure {
    /// A bad configuration is a usage error (exit 2); the rest exit 1.
    fn from(e: LogsError) -> Self {
        match e {
            LogsError::ReadConfig { .. } | LogsError::Config { .. } => {
                Failure::usage(format!("logs: {e}"))
            }
            LogsError::Host(_) | LogsError::Io(_) => Failure::runtime(format!("logs: {e}")),
        }
    }
}

/// Entry point for the subcommand.
pub fn run(args: Args) -> Result<(), Failure> {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let counts = transform_stream(&args, stdin, stdout)?;
    eprintln!("{}", counts.summary());
    Ok(())
}

/// Transforms every line of `input` into `output` and returns the counts.
pub fn transform_stream(
    args: &Args,
    mut input: impl BufRead,
    mut output: impl Write,
) -> Result<Counts, LogsError> {
    let mut host = instance(args)?;
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    loop {
        batch.clear();
        while batch.len() < BATCH_BYTES {
            if input.read_until(b'\n', &mut batch)? == 0 {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        output.write_all(&host.transform_batch(&batch)?)?;
    }
    output.flush()?;
    Ok(host.counts()?)
}

fn instance(args: &Args) -> Result<LogTransform, LogsError> {
    let Some(path) = &args.config else {
        return Ok(LogTransform::new()?);
    };
    let json = std::fs::read(path).map_err(|source| LogsError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    LogTransform::with_config(&json).map_err(|e| match e {
        LogHostError::Config(message) => LogsError::Config {
            path: path.clone(),
            message,
        },
        other => LogsError::Host(other),
    })
}
