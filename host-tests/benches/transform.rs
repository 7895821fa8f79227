//! Records/s of the log label-set transform in its three engines, on one
//! corpus (src/transform_corpus.rs, 1,200 records, seed 5, its
//! configuration):
//!
//! - `native rules`: the rules core (`transform_into`), bytes in, bytes out
//!   — the limit;
//! - `wasm per-record`: the compiled module under wasmtime through
//!   `starform_filter_log`, one call per record, the way Fluent Bit's
//!   `filter_wasm` calls it (copy in through the module's `malloc`, copy the
//!   NUL-terminated output out, `free`);
//! - `wasm batch`: through `starform_transform_batch`, whole lines in
//!   256 KiB batches, the way `starform-wasm logs` feeds it;
//! - `vrl`: the generated rules and dropped programs in the `vrl` crate,
//!   wired as Vector wires the `remap` (drop_on_abort + reroute_dropped: the
//!   event is cloned before the run, an aborted one goes through the dropped
//!   program). The events are decoded before timing: in Vector the source
//!   decodes them whether a `remap` follows or not, so only the remap's own
//!   work is timed, while the other engines also parse and write JSON.
//!
//! Before timing, the engines must agree on every record (the module's bytes
//! equal the native bytes, per record and in batch; VRL's event equals the
//! native output as JSON) and each record must get the outcome it was
//! written for. At the end the bench prints, from the measured means of this
//! one run, the ratios wasm/VRL and wasm/native (stderr).
//!
//! `cargo bench -p starform-host-tests --bench transform`; with
//! `STARFORM_BENCH_SMOKE=1` a few-second run (CI). See
//! docs/performance.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
#[path = "../tests/all/support/vrl/vector.rs"]
mod vector;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use serde_json::{Map, Value as Json};
use starform_host_tests::transform_corpus::{Corpus, Kind, Record, CONFIG, MIX};
use starform_vector_transform::{transform_into, CompiledConfig, TransformConfig};
use starform_wasm::log_host::LogTransform;
use starform_wasm::vrl_program;
use vrl::compiler::TargetValue;

use vector::{Namespace, VectorTwin};

const SEED: u64 = 5;
/// Twenty blocks of the corpus mix; one criterion iteration is one pass.
const RECORDS: usize = 1_200;
/// Bytes per `starform_transform_batch` call, as `starform-wasm logs` sends.
const BATCH_BYTES: usize = 256 * 1024;

/// The corpus in the form each engine takes it.
struct Inputs {
    records: Vec<Record>,
    /// Whole lines, newline-terminated, about `BATCH_BYTES` each.
    batches: Vec<Vec<u8>>,
    /// Each record as the fluent source hands it to the remap (log namespace
    /// `vector`, as deploy/vector/vector.yaml sets it).
    events: Vec<TargetValue>,
}

impl Inputs {
    fn new() -> Self {
        let records = Corpus::generate(SEED, RECORDS);
        let mut batches: Vec<Vec<u8>> = vec![Vec::new()];
        for r in &records {
            let last = batches.last_mut().unwrap();
            if !last.is_empty() && last.len() + r.line.len() + 1 > BATCH_BYTES {
                batches.push(Vec::new());
            }
            let last = batches.last_mut().unwrap();
            last.extend_from_slice(r.line.as_bytes());
            last.push(b'\n');
        }
        let events = records
            .iter()
            .map(|r| {
                let map: Map<String, Json> = serde_json::from_str(&r.line).unwrap();
                vector::event(&map, Namespace::Vector)
            })
            .collect();
        Self {
            records,
            batches,
            events,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Native,
    WasmRecord,
    WasmBatch,
    Vrl,
}

impl Engine {
    const ALL: [Engine; 4] = [
        Engine::Native,
        Engine::WasmRecord,
        Engine::WasmBatch,
        Engine::Vrl,
    ];

    fn name(self) -> &'static str {
        match self {
            Engine::Native => "native rules",
            Engine::WasmRecord => "wasm per-record",
            Engine::WasmBatch => "wasm batch",
            Engine::Vrl => "vrl",
        }
    }
}

struct Engines {
    native: CompiledConfig,
    wasm_record: LogTransform,
    wasm_batch: LogTransform,
    vrl: VectorTwin,
    /// Reused by the native engine, as the module reuses its output buffer.
    out: Vec<u8>,
}

impl Engines {
    fn new() -> Self {
        let config: TransformConfig = serde_json::from_str(CONFIG).unwrap();
        let rules = vrl_program::generate(&config).unwrap();
        let dropped = vrl_program::generate_dropped();
        Self {
            native: CompiledConfig::compile(&config).unwrap(),
            wasm_record: LogTransform::with_config(CONFIG.as_bytes()).unwrap(),
            wasm_batch: LogTransform::with_config(CONFIG.as_bytes()).unwrap(),
            vrl: VectorTwin::new(&rules, &dropped),
            out: Vec::new(),
        }
    }

    /// One pass of `engine` over the corpus; the time it took.
    fn pass(&mut self, engine: Engine, inputs: &Inputs) -> Duration {
        match engine {
            Engine::Native => {
                let start = Instant::now();
                for r in &inputs.records {
                    self.out.clear();
                    black_box(transform_into(
                        &self.native,
                        r.line.as_bytes(),
                        &mut self.out,
                    ));
                    black_box(&self.out);
                }
                start.elapsed()
            }
            Engine::WasmRecord => {
                let start = Instant::now();
                for r in &inputs.records {
                    black_box(self.wasm_record.transform(r.line.as_bytes()).unwrap());
                }
                start.elapsed()
            }
            Engine::WasmBatch => {
                let start = Instant::now();
                for batch in &inputs.batches {
                    black_box(self.wasm_batch.transform_batch(batch).unwrap());
                }
                start.elapsed()
            }
            Engine::Vrl => {
                // The events as the source hands them over, made outside the
                // timing; the outputs are dropped after it.
                let events: Vec<TargetValue> = inputs.events.iter().map(vector::copy).collect();
                let mut outputs = Vec::with_capacity(events.len());
                let start = Instant::now();
                for event in events {
                    outputs.push(self.vrl.run_event(event));
                }
                let elapsed = start.elapsed();
                black_box(&outputs);
                elapsed
            }
        }
    }
}

/// `accepted` or the quarantine reason of an output record.
fn outcome(output: &Json) -> &str {
    output
        .get("starform_quarantine")
        .and_then(|q| q.get("reason"))
        .and_then(Json::as_str)
        .unwrap_or("accepted")
}

/// Panics unless the engines agree on every record and every record gets
/// the outcome it was written for.
fn check_agreement(inputs: &Inputs, engines: &mut Engines) {
    let mut expected_batch = Vec::new();
    for (i, (record, event)) in inputs.records.iter().zip(&inputs.events).enumerate() {
        let line = record.line.as_bytes();
        let mut native = Vec::new();
        transform_into(&engines.native, line, &mut native);
        let native_json: Json = serde_json::from_slice(&native).unwrap();
        assert_eq!(
            outcome(&native_json),
            record.kind.outcome(),
            "record {i} ({:?}): {}",
            record.kind,
            record.line
        );
        let wasm = engines.wasm_record.transform(line).unwrap();
        assert!(
            wasm == native,
            "record {i}: wasm and native differ\nwasm:   {}\nnative: {}",
            String::from_utf8_lossy(&wasm),
            String::from_utf8_lossy(&native)
        );
        let (target, _) = engines.vrl.run_event(vector::copy(event)).unwrap();
        let vrl = vector::to_json(&target.value).unwrap();
        assert_eq!(vrl, native_json, "record {i}: VRL and native differ");
        expected_batch.extend_from_slice(&native);
        expected_batch.push(b'\n');
    }
    let mut batch = Vec::new();
    for input in &inputs.batches {
        batch.extend(engines.wasm_batch.transform_batch(input).unwrap());
    }
    assert!(
        batch == expected_batch,
        "the batch entry's output differs from the per-record output"
    );
    let counts = engines.wasm_batch.counts().unwrap();
    let accepted = inputs
        .records
        .iter()
        .filter(|r| r.kind.outcome() == "accepted")
        .count();
    assert_eq!(counts.accepted, accepted as u64, "{}", counts.summary());
    let sizes: Vec<usize> = inputs.records.iter().map(|r| r.line.len()).collect();
    eprintln!(
        "corpus: {} records (seed {SEED}), lines {}–{} bytes (mean {}), {} batches; mix per {} records: {}",
        sizes.len(),
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
        sizes.iter().sum::<usize>() / sizes.len(),
        inputs.batches.len(),
        MIX.iter().map(|(_, n)| n).sum::<usize>(),
        MIX.iter()
            .map(|(k, n)| format!("{} {n}", kind_name(*k)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "engines agree on all {} records ({})",
        inputs.records.len(),
        counts.summary()
    );
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Valid => "valid",
        Kind::Normalised => "normalised",
        other => other.outcome(),
    }
}

/// Every (engine, elapsed, passes) criterion asked for, in order: the last
/// `sample_size` of an engine's are its measurement (criterion warms up
/// first, through the same routine).
#[derive(Default)]
struct Samples(Vec<(Engine, Duration, u64)>);

impl Samples {
    /// Mean time of one pass over the corpus in the measured samples, as
    /// criterion's flat sampling computes its mean.
    fn mean_pass(&self, engine: Engine, sample_size: usize) -> Option<f64> {
        let mine: Vec<f64> = self
            .0
            .iter()
            .filter(|(e, _, passes)| *e == engine && *passes > 0)
            .map(|(_, d, passes)| d.as_secs_f64() / *passes as f64)
            .collect();
        let measured = mine.get(mine.len().saturating_sub(sample_size)..)?;
        (!measured.is_empty()).then(|| measured.iter().sum::<f64>() / measured.len() as f64)
    }
}

struct Settings {
    sample_size: usize,
    warm_up: Duration,
    measurement: Duration,
    /// Rounds of the alternating measurement (one pass per engine each).
    rounds: usize,
    /// Too short to measure: proves the bench runs, judges no target.
    smoke: bool,
}

impl Settings {
    fn from_env() -> Self {
        let smoke = std::env::var("STARFORM_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
        if smoke {
            Self {
                sample_size: 10,
                warm_up: Duration::from_millis(50),
                measurement: Duration::from_millis(200),
                rounds: 3,
                smoke,
            }
        } else {
            Self {
                sample_size: 30,
                warm_up: Duration::from_secs(2),
                measurement: Duration::from_secs(6),
                rounds: 60,
                smoke,
            }
        }
    }
}

fn main() {
    let settings = Settings::from_env();
    let inputs = Inputs::new();
    let mut engines = Engines::new();
    check_agreement(&inputs, &mut engines);

    let mut criterion = Criterion::default()
        .sample_size(settings.sample_size)
        .warm_up_time(settings.warm_up)
        .measurement_time(settings.measurement)
        .configure_from_args();
    let mut samples = Samples::default();
    let mut group = criterion.benchmark_group("transform");
    group.throughput(Throughput::Elements(inputs.records.len() as u64));
    // One iteration is a pass over the whole corpus (milliseconds): flat
    // sampling, as criterion advises for long iterations.
    group.sampling_mode(SamplingMode::Flat);
    for engine in Engine::ALL {
        group.bench_function(engine.name(), |b| {
            b.iter_custom(|passes| {
                let elapsed = (0..passes).map(|_| engines.pass(engine, &inputs)).sum();
                samples.0.push((engine, elapsed, passes));
                elapsed
            });
        });
    }
    group.finish();
    criterion.final_summary();

    let alternating = alternate(&mut engines, &inputs, settings.rounds);
    report(&samples, &alternating, &settings, inputs.records.len());
}

/// Background load on a shared machine moves between criterion's
/// one-engine-at-a-time measurements; here the engines take turns (A B C D,
/// B C D A, …) so load hits them alike. Median pass time per engine.
fn alternate(engines: &mut Engines, inputs: &Inputs, rounds: usize) -> Vec<(Engine, f64)> {
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); Engine::ALL.len()];
    for round in 0..rounds {
        for k in 0..Engine::ALL.len() {
            let i = (round + k) % Engine::ALL.len();
            let elapsed = engines.pass(Engine::ALL[i], inputs);
            times[i].push(elapsed.as_secs_f64());
        }
    }
    Engine::ALL
        .into_iter()
        .zip(times)
        .map(|(engine, mut t)| {
            t.sort_by(f64::total_cmp);
            (engine, t.get(t.len() / 2).copied().unwrap_or(f64::NAN))
        })
        .collect()
}

/// Records/s per engine and the ratios: criterion's means, and the medians
/// of the alternating rounds, which the verdicts use.
fn report(samples: &Samples, alternating: &[(Engine, f64)], settings: &Settings, records: usize) {
    let criterion_rate = |engine: Engine| {
        samples
            .mean_pass(engine, settings.sample_size)
            .map(|pass| records as f64 / pass)
    };
    let alternating_rate = |engine: Engine| {
        alternating
            .iter()
            .find(|(e, _)| *e == engine)
            .map(|(_, pass)| records as f64 / pass)
            .filter(|r| r.is_finite())
    };
    let show = |rate: Option<f64>| rate.map_or("-".to_owned(), |r| format!("{r:.0}"));
    eprintln!(
        "\ntransform records/s, this run: criterion mean ({} samples) | median of {} alternating rounds | µs/record (alternating)",
        settings.sample_size, settings.rounds
    );
    for engine in Engine::ALL {
        let alt = alternating_rate(engine);
        eprintln!(
            "  {:<16} {:>10} | {:>10} | {:>7}",
            engine.name(),
            show(criterion_rate(engine)),
            show(alt),
            alt.map_or("-".to_owned(), |r| format!("{:.2}", 1e6 / r)),
        );
    }
    for (wasm, other, target) in [
        (Engine::WasmRecord, Engine::Vrl, 2.0),
        (Engine::WasmBatch, Engine::Vrl, 2.0),
        (Engine::WasmRecord, Engine::Native, 0.5),
        (Engine::WasmBatch, Engine::Native, 0.5),
    ] {
        let ratio = |rate: &dyn Fn(Engine) -> Option<f64>| Some(rate(wasm)? / rate(other)?);
        let (alt, crit) = (ratio(&alternating_rate), ratio(&criterion_rate));
        let verdict = match alt {
            _ if settings.smoke => "not judged (smoke run)",
            Some(r) if r >= target => "met",
            Some(_) => "MISSED",
            None => "not measured",
        };
        eprintln!(
            "ratio {} / {}: {} (criterion means: {}); target >= {target}: {verdict}",
            wasm.name(),
            other.name(),
            alt.map_or("-".to_owned(), |r| format!("{r:.2}")),
            crit.map_or("-".to_owned(), |r| format!("{r:.2}")),
        );
    }
}
