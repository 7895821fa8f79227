//! Shared by the transform_* tests: the golden corpus on disk and the two
//! engines (the native pure core and the compiled module in wasmtime).

use std::path::{Path, PathBuf};

use serde_json::Value;
use starform_vector_transform::{ndjson, CompiledConfig, Counts};
use starform_wasm::log_host::LogTransform;

/// One folder of host-tests/golden/.
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    /// config.json, or `{}` when the folder has none.
    pub config: Vec<u8>,
    /// Raw bytes, records split on `\n` (see the ndjson framing).
    pub input: Vec<u8>,
}

impl Case {
    pub fn expected_path(&self) -> PathBuf {
        self.dir.join("expected.ndjson")
    }

    pub fn records(&self) -> usize {
        ndjson::records(&self.input).count()
    }
}

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

pub fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|dir| Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            config: std::fs::read(dir.join("config.json")).unwrap_or_else(|_| b"{}".to_vec()),
            input: std::fs::read(dir.join("input.ndjson")).unwrap(),
            dir,
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        cases.len() >= 15,
        "golden corpus is missing cases: {}",
        cases.len()
    );
    cases
}

/// The native pure core over an NDJSON buffer.
pub fn native(config: &[u8], input: &[u8]) -> Vec<u8> {
    let config = CompiledConfig::from_json(config).unwrap();
    let mut out = Vec::new();
    ndjson::transform_batch(&config, input, &mut out, &mut Counts::default());
    out
}

/// The module, one `starform_filter_log` call per record (Fluent Bit's way).
pub fn module_per_record(host: &mut LogTransform, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in ndjson::records(input) {
        out.extend(host.transform(record).unwrap());
        out.push(b'\n');
    }
    out
}

/// Splits output into lines and parses each as JSON.
pub fn parse_lines(output: &[u8]) -> Vec<Value> {
    assert!(
        output.is_empty() || output.ends_with(b"\n"),
        "output must end with a newline"
    );
    output
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(l)))
        })
        .collect()
}

/// Asserts `actual` has exactly the expected records: same count, equal JSON
/// values, and the same field order.
pub fn assert_same_records(case: &str, engine: &str, actual: &[u8], expected: &[u8]) {
    let actual = parse_lines(actual);
    let expected = parse_lines(expected);
    assert_eq!(
        actual.len(),
        expected.len(),
        "{case} ({engine}): record count"
    );
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert!(
            a == e,
            "{case} ({engine}) line {}:\n  actual   {}\n  expected {}",
            i + 1,
            short(a),
            short(e)
        );
        // Equal maps may still differ in order; the order is part of the contract.
        assert_eq!(
            a.to_string(),
            e.to_string(),
            "{case} ({engine}) line {}: field order",
            i + 1
        );
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 600 {
        format!("{}… ({} bytes)", &s[..600], s.len())
    } else {
        s
    }
}
