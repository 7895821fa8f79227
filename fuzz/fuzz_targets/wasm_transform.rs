//! Arbitrary records through the COMPILED log transform
//! (`modules::VECTOR_TRANSFORM`) in wasmtime, the way Fluent Bit calls it
//! (`starform_filter_log`, one record per call, one instance for many
//! records) and in batches. Fails on any trap or ABI error, on any output
//! that is not exactly one JSON object, on any output other than the
//! rulebook's (`starform_fuzz::records`: the project is the normalised
//! label or the record is quarantined), on a batch that differs from the
//! per-record calls, on a record missing from the counters, and on linear
//! memory past a bound.
//!
//! Input: one record (the whole input), then each `\n`-separated line.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use starform_fuzz::records::check;
use starform_vector_transform::{ndjson, transform, CompiledConfig, TransformConfig};
use starform_wasm::log_host::{LogModule, LogTransform};

const FULL: &[u8] = br#"{"key_aliases":{"team":"starform.io/project","app":"starform.io/service","env":"starform.io/environment","build":"starform.io/build-id"},"environment_aliases":{"prod":"production"},"namespace_template":"{project}-{environment}","max_record_bytes":300}"#;

/// Inputs are at most libFuzzer's `-max_len` (scripts/fuzz.sh: 64 KiB); a
/// few copies of one in memory are far below this.
const MEMORY_BOUND: usize = 32 << 20;

struct Setup {
    json: &'static [u8],
    raw: TransformConfig,
    compiled: CompiledConfig,
}

fn setups() -> &'static [Setup; 2] {
    static SETUPS: OnceLock<[Setup; 2]> = OnceLock::new();
    SETUPS.get_or_init(|| {
        [b"{}" as &[u8], FULL].map(|json| Setup {
            json,
            raw: TransformConfig::from_json(json).expect("valid"),
            compiled: CompiledConfig::from_json(json).expect("valid"),
        })
    })
}

fn module() -> &'static LogModule {
    LogModule::vector_transform().expect("the embedded transform compiles")
}

fn run(setup: &Setup, data: &[u8]) {
    let mut host = LogTransform::with_module(module(), setup.json).expect("configured");
    let mut records = 0u64;
    let mut one = |host: &mut LogTransform, record: &[u8]| {
        let out = host
            .transform(record)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(record)));
        // The native core is libFuzzer's view of the rules (it cannot see
        // inside the module): the module must say the same.
        let native = transform(&setup.compiled, record);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&native),
            "module and native core differ"
        );
        check(&setup.raw, record, &out, "module");
        records += 1;
        out
    };
    one(&mut host, data);
    let mut joined = Vec::new();
    for record in ndjson::records(data).take(64) {
        joined.extend(one(&mut host, record));
        joined.push(b'\n');
    }
    if ndjson::records(data).count() <= 64 {
        let batch = host
            .transform_batch(data)
            .unwrap_or_else(|e| panic!("batch: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&batch),
            String::from_utf8_lossy(&joined),
            "batch differs from one call per record"
        );
        records += ndjson::records(data).count() as u64;
    }
    let counts = host.counts().expect("counts");
    assert_eq!(
        counts.accepted + counts.total_quarantined(),
        records,
        "a record went uncounted"
    );
    assert!(
        host.memory_bytes() <= MEMORY_BOUND,
        "linear memory {} bytes",
        host.memory_bytes()
    );
}

fuzz_target!(|data: &[u8]| {
    for setup in setups() {
        run(setup, data);
    }
});
