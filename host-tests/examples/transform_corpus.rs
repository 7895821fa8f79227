//! Writes the transform benchmark's corpus (src/transform_corpus.rs) as
//! NDJSON on stdout, for `starform-wasm logs` runs (bench/transform.sh):
//!
//! ```sh
//! cargo run --release -p starform-host-tests --example transform_corpus -- 1000000 > corpus.ndjson
//! cargo run --release -p starform-host-tests --example transform_corpus -- --config > config.json
//! ```
//!
//! Arguments: the number of lines (default 1,000,000) and the seed (default
//! 5, the bench's); or `--config` alone for the configuration the corpus is
//! written for.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use starform_host_tests::transform_corpus::{Corpus, CONFIG};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("transform_corpus: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let io = |e: std::io::Error| format!("writing stdout: {e}");
    if args.first().map(String::as_str) == Some("--config") {
        return writeln!(out, "{CONFIG}")
            .and_then(|()| out.flush())
            .map_err(io);
    }
    let number = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |a| {
            a.parse()
                .map_err(|_| format!("argument {} ({a:?}) is not a number", i + 1))
        })
    };
    let lines = number(0, 1_000_000)?;
    let seed = number(1, 5)?;
    for record in Corpus::new(seed).take(usize::try_from(lines).map_err(|e| e.to_string())?) {
        out.write_all(record.line.as_bytes()).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)
}
