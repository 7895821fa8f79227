//! Wasm instructions the log transform executes per record, the way Fluent
//! Bit runs it: the compiled module metered by wasmtime fuel (one unit per
//! instruction; a bulk-memory copy is one instruction, as an interpreter
//! dispatches it once), each record passed as `filter_wasm` passes it (tag and
//! record copied in through the module's `malloc`, the result read back,
//! both copies freed), on the transform benchmark's corpus (seed 5, 1,200
//! records, its configuration).
//!
//! An interpreter's time follows the instructions it executes, so this is
//! the deterministic measure of what a node running the plain `.wasm` under
//! WAMR pays per record: the same figure on any machine, in any run. It
//! prints instructions per record for each outcome and per input byte, then
//! the TARGET line (the goal) and the CEILING line (what the module costs
//! today, with a little room): a change that makes the module dearer than
//! the ceiling fails the bench, and with it `bench/run.sh --smoke` in CI.
//!
//! `cargo bench -p starform-host-tests --bench instructions`
//! (`STARFORM_BENCH_MODULE=path.wasm` measures another build of the module.)

use std::collections::BTreeMap;
use std::process::ExitCode;

use starform_host_tests::transform_corpus::{Corpus, Record, CONFIG};
use starform_wasm::log_host::{LogModule, LogTransform, Metering};

const SEED: u64 = 5;
const RECORDS: usize = 1_200;
/// Mean wasm instructions per record the module is meant to reach.
const TARGET: u64 = 12_000;
/// Mean wasm instructions per record the module may not exceed: its cost
/// today (11,640 on this corpus) plus 3 %.
const CEILING: u64 = 11_990;
const TAG: &[u8] = b"kube.var.log.containers.web-7d4b9c-x2x_acme-prod_app-0123456789abcdef.log";

#[derive(Default)]
struct Tally {
    records: u64,
    instructions: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, instructions: u64, bytes: usize) {
        self.records += 1;
        self.instructions += instructions;
        self.bytes += bytes as u64;
    }

    fn per_record(&self) -> u64 {
        self.instructions / self.records.max(1)
    }

    fn per_byte(&self) -> f64 {
        self.instructions as f64 / self.bytes.max(1) as f64
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("instructions bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let bytes = match std::env::var_os("STARFORM_BENCH_MODULE") {
        Some(path) => std::fs::read(path)?,
        None => starform_wasm::modules::VECTOR_TRANSFORM.to_vec(),
    };
    let module = LogModule::compile_with(&bytes, Metering::Instructions)?;
    let mut host = LogTransform::fluent_bit(&module, &[])?;
    host.configure(CONFIG.as_bytes())?;
    // The first record reads nothing more (configured above), but warms the
    // module's buffers as a running Fluent Bit's are.
    let records = Corpus::generate(SEED, RECORDS);
    if let Some(first) = records.first() {
        host.filter_log_as_fluent_bit(TAG, (0, 0), first.line.as_bytes())?;
    }
    let mut by_outcome: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut all = Tally::default();
    for record in &records {
        let before = host.instructions().ok_or("module is not metered")?;
        let out = host.filter_log_as_fluent_bit(TAG, (0, 0), record.line.as_bytes())?;
        let spent = host.instructions().ok_or("module is not metered")? - before;
        let outcome = outcome_of(&out);
        if outcome != record.kind.outcome() {
            return Err(format!(
                "record written as {} came out {outcome}",
                record.kind.outcome()
            )
            .into());
        }
        by_outcome
            .entry(record.kind.outcome())
            .or_default()
            .add(spent, record.line.len());
        all.add(spent, record.line.len());
    }
    println!(
        "wasm instructions per record, Fluent Bit call sequence, {RECORDS} records, seed {SEED}"
    );
    println!(
        "{:<20} {:>8} {:>14} {:>12} {:>10}",
        "outcome", "records", "instr/record", "mean bytes", "instr/byte"
    );
    for (outcome, t) in by_outcome
        .iter()
        .map(|(o, t)| (*o, t))
        .chain([("all", &all)])
    {
        println!(
            "{outcome:<20} {:>8} {:>14} {:>12} {:>10.2}",
            t.records,
            t.per_record(),
            t.bytes / t.records.max(1),
            t.per_byte()
        );
    }
    let mean = all.per_record();
    println!(
        "TARGET instructions per record <= {TARGET}: {} ({mean})",
        if mean <= TARGET { "met" } else { "MISSED" }
    );
    let within = mean <= CEILING;
    println!(
        "CEILING instructions per record <= {CEILING}: {} ({mean})",
        if within { "held" } else { "EXCEEDED" }
    );
    parts(&mut host, &records)?;
    Ok(within)
}

/// Instructions of one record through the Fluent Bit call sequence.
fn cost(host: &mut LogTransform, record: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let before = host.instructions().ok_or("module is not metered")?;
    host.filter_log_as_fluent_bit(TAG, (0, 0), record.as_bytes())?;
    Ok(host.instructions().ok_or("module is not metered")? - before)
}

/// Instructions of a record the module has seen before (its keys are in
/// the key memo, as a collector's keys are after its first records).
fn warm_cost(host: &mut LogTransform, record: &str) -> Result<u64, Box<dyn std::error::Error>> {
    cost(host, record)?;
    cost(host, record)
}

/// What the parts of a record cost, each from two single records that
/// differ in that part only (the figures docs/performance.md quotes).
fn parts(host: &mut LogTransform, records: &[Record]) -> Result<(), Box<dyn std::error::Error>> {
    let log = |content: &str| format!(r#"{{"log":"{content}"}}"#);
    let members = |n: usize| {
        let list: Vec<String> = (0..n)
            .map(|i| format!(r#""key_{i:02}":"value_{i:02}""#))
            .collect();
        format!("{{{}}}", list.join(","))
    };
    let labels = |suffix: &str| {
        format!(
            r#"{{"log":"a","kubernetes":{{"namespace_name":"acme-prod","labels":{{"starform.io/project{suffix}":"acme","starform.io/environment{suffix}":"prod","starform.io/service{suffix}":"web"}}}}}}"#
        )
    };
    let plain = |n: usize| "a".repeat(n);
    // 50 escapes in 1,000 bytes of content, against 1,000 plain bytes.
    let escaped = "abcdefghijklmnopqr\\n".repeat(50);
    let empty = warm_cost(host, "{}")?;
    // Both records past the size where the module's `malloc` changes bins.
    let (short, long) = (
        warm_cost(host, &log(&plain(1_000)))?,
        warm_cost(host, &log(&plain(2_000)))?,
    );
    let with_escapes = warm_cost(host, &log(&escaped))?;
    let thousand = short;
    // Eight keys never met before, then the same eight again.
    let first_sight = cost(host, &members(8))?;
    let (one, eight) = (warm_cost(host, &members(1))?, warm_cost(host, &members(8))?);
    let (candidates, others) = (
        warm_cost(host, &labels(""))?,
        warm_cost(host, &labels("-x"))?,
    );
    // The host's copies alone (tag and record, each with its NUL), at the
    // corpus's record sizes, freed tag first as Fluent Bit does.
    let copies = |host: &mut LogTransform| -> Result<u64, Box<dyn std::error::Error>> {
        let before = host.instructions().ok_or("module is not metered")?;
        for record in records {
            let tag = host.module_malloc(TAG.len() as u32 + 1)?;
            let line = host.module_malloc(record.line.len() as u32 + 1)?;
            host.module_free(tag)?;
            host.module_free(line)?;
        }
        Ok(host.instructions().ok_or("module is not metered")? - before)
    };
    copies(host)?;
    let calls = copies(host)?;
    let per = |a: u64, b: u64, n: u64| (a as f64 - b as f64) / n as f64;
    println!("single records (instructions)");
    println!(
        "{:<64} {:>9}",
        "the call around `{}` (malloc x2, the export, free x2)", empty
    );
    println!(
        "{:<64} {:>9.0}",
        "the host's copies alone (malloc x2, free x2), the corpus's sizes",
        per(calls, 0, records.len() as u64)
    );
    println!(
        "{:<64} {:>9.2}",
        "string contents, per byte (2,000 plain bytes against 1,000)",
        per(long, short, 1_000)
    );
    println!(
        "{:<64} {:>9.1}",
        "an escape (50 `\\n` in 1,000 bytes, against 1,000 plain)",
        per(with_escapes, thousand, 50)
    );
    println!(
        "{:<64} {:>9.1}",
        "a member `\"key_00\":\"value_00\"` (8 against 1)",
        per(eight, one, 7)
    );
    println!(
        "{:<64} {:>9.1}",
        "a key met for the first time (learnt), over one met before",
        per(first_sight, eight, 8)
    );
    println!(
        "{:<64} {:>9}",
        "3 candidate labels resolved, template, identity (against none)",
        candidates as i64 - others as i64
    );
    Ok(())
}

/// `accepted`, or the quarantine reason of one output object.
fn outcome_of(out: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(out).unwrap_or_default();
    value
        .get("starform_quarantine")
        .and_then(|q| q.get("reason"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("accepted")
        .to_owned()
}
