//! Hostile records through the compiled transform (`modules::VECTOR_TRANSFORM`
//! in wasmtime): 10 MiB records, nesting 100,000 deep, invalid UTF-8 — each
//! answered with exactly one quarantined object, never a trap, in bounded
//! linear memory; and the instance keeps accepting ordinary records after.
//! (host-tests/golden/ covers the same classes at smaller sizes.)

use serde_json::{Map, Value};
use starform_vector_transform::{transform, CompiledConfig};
use starform_wasm::log_host::LogTransform;

const MIB: usize = 1 << 20;
/// Bound on the module's linear memory after any one of these records
/// (measured: 51 MiB, 71 MiB when the output is base64): input, output and
/// the parsed tree of one 10 MiB record, with room to spare.
const MEMORY_BOUND: usize = 96 * MIB;

const LABELS: &str = r#"{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"}"#;

fn ordinary() -> Vec<u8> {
    format!(r#"{{"log":"ok","kubernetes":{{"labels":{LABELS}}}}}"#).into_bytes()
}

fn labelled_with(field: &str) -> Vec<u8> {
    format!(r#"{{"log":"x",{field},"kubernetes":{{"labels":{LABELS}}}}}"#).into_bytes()
}

/// The hostile records: (what, bytes, expected quarantine reason).
fn hostile() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let big = "x".repeat(10 * MIB);
    let mut not_utf8 = labelled_with(r#""pad":"""#);
    not_utf8.splice(8..8, std::iter::repeat_n(0xffu8, 10 * MIB));
    let mut one_bad_byte = labelled_with(&format!(r#""big":"{big}""#));
    one_bad_byte[5 * MIB] = 0xc3;
    vec![
        (
            "10 MiB labelled record",
            labelled_with(&format!(r#""big":"{big}""#)),
            "too_large",
        ),
        (
            "10 MiB of one JSON string (not an object)",
            format!("\"{big}\"").into_bytes(),
            "malformed",
        ),
        (
            "10 MiB of text that is not JSON",
            big.clone().into_bytes(),
            "malformed",
        ),
        (
            "arrays nested 100,000 deep",
            labelled_with(&format!(
                r#""deep":{}{}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            )),
            "malformed",
        ),
        (
            "objects nested 100,000 deep",
            labelled_with(&format!(
                r#""deep":{}1{}"#,
                r#"{"a":"#.repeat(100_000),
                "}".repeat(100_000)
            )),
            "malformed",
        ),
        (
            "100,000 unclosed brackets",
            "[".repeat(100_000).into_bytes(),
            "malformed",
        ),
        ("10 MiB of 0xFF inside a record", not_utf8, "malformed"),
        ("one invalid byte in 10 MiB", one_bad_byte, "malformed"),
        ("10 MiB of 0x80", vec![0x80; 10 * MIB], "malformed"),
    ]
}

fn object(bytes: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => map,
        other => panic!(
            "not exactly one object ({} bytes): {:?}",
            bytes.len(),
            other.map(|_| ())
        ),
    }
}

fn reason(out: &Map<String, Value>) -> Option<&str> {
    out.get("starform_quarantine")?.get("reason")?.as_str()
}

#[test]
fn hostile_records_are_quarantined_without_a_trap_in_bounded_memory() {
    let native = CompiledConfig::default();
    let mut host = LogTransform::new().unwrap();
    let mut seen = 0u64;
    for (what, record, want) in hostile() {
        let out = host
            .transform(&record)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        seen += 1;
        let parsed = object(&out);
        assert_eq!(reason(&parsed), Some(want), "{what}");
        for field in ["project", "environment", "service", "log_kind"] {
            assert!(!parsed.contains_key(field), "{what}: {field}");
        }
        assert!(
            out == transform(&native, &record),
            "{what}: module and native core differ"
        );
        // Kept whole: the record itself, its text, or its bytes in base64.
        let kept = match want {
            "too_large" => parsed.len() == 4 && parsed.contains_key("big"),
            _ => {
                parsed
                    .get("starform_raw")
                    .and_then(Value::as_str)
                    .map(str::len)
                    == std::str::from_utf8(&record).ok().map(str::len)
                    || parsed
                        .get("starform_raw_base64")
                        .and_then(Value::as_str)
                        .is_some_and(|b| b.len() == record.len().div_ceil(3) * 4)
            }
        };
        assert!(kept, "{what}: not kept whole");
        eprintln!(
            "{what}: {} input bytes, {} output bytes, linear memory {} MiB",
            record.len(),
            out.len(),
            host.memory_bytes() / MIB
        );
        assert!(
            host.memory_bytes() <= MEMORY_BOUND,
            "{what}: linear memory {} MiB",
            host.memory_bytes() / MIB
        );
        // The instance goes on as before.
        let next = object(&host.transform(&ordinary()).unwrap());
        seen += 1;
        assert_eq!(
            next.get("project"),
            Some(&Value::from("acme")),
            "after {what}"
        );
    }
    let counts = host.counts().unwrap();
    assert_eq!(counts.accepted + counts.total_quarantined(), seen);
    assert_eq!(counts.accepted, seen / 2);
}

/// The same records in one NDJSON batch (invalid UTF-8 lines are split out
/// on `\n`, so 0xFF/0x80 runs contain none): one output line each.
#[test]
fn hostile_records_in_one_batch() {
    let mut host = LogTransform::new().unwrap();
    let records = hostile();
    let mut batch = Vec::new();
    for (_, record, _) in &records {
        batch.extend_from_slice(record);
        batch.push(b'\n');
        batch.extend_from_slice(&ordinary());
        batch.push(b'\n');
    }
    let out = host.transform_batch(&batch).unwrap();
    eprintln!(
        "batch: {} input bytes, {} output bytes, linear memory {} MiB",
        batch.len(),
        out.len(),
        host.memory_bytes() / MIB
    );
    let lines: Vec<&[u8]> = out
        .strip_suffix(b"\n")
        .unwrap()
        .split(|b| *b == b'\n')
        .collect();
    assert_eq!(lines.len(), records.len() * 2);
    for (i, (what, _, want)) in records.iter().enumerate() {
        assert_eq!(reason(&object(lines[2 * i])), Some(*want), "{what}");
        assert_eq!(
            object(lines[2 * i + 1]).get("project"),
            Some(&Value::from("acme")),
            "after {what}"
        );
    }
    // Measured: 221 MiB for a 61 MiB batch.
    assert!(
        host.memory_bytes() <= 4 * batch.len(),
        "linear memory {} MiB",
        host.memory_bytes() / MIB
    );
}

/// Linear memory never shrinks, but one huge record must not make it grow
/// again for the next: the buffers are reused.
#[test]
fn repeated_huge_records_do_not_grow_memory() {
    let mut host = LogTransform::new().unwrap();
    let record = labelled_with(&format!(r#""big":"{}""#, "x".repeat(10 * MIB)));
    host.transform(&record).unwrap();
    let after_first = host.memory_bytes();
    for _ in 0..5 {
        let out = object(&host.transform(&record).unwrap());
        assert_eq!(reason(&out), Some("too_large"));
        host.transform(&ordinary()).unwrap();
    }
    assert_eq!(host.memory_bytes(), after_first);
}
