//! The rulebook (docs/contracts.md, "Log label-set transform") applied to one
//! record: bytes in, one JSON object out.

use std::borrow::Cow;
use std::io::Write;

use serde_json::{Map, Value};

use crate::config::CompiledConfig;
use crate::label_set::{self, ResolvedLabels};
use crate::outcome::{Outcome, Quarantine, Reason};
use crate::scan::{is_malformed_output_form, scan, Scratch};
use crate::view::{LabelMap, RecordView};

/// Top-level fields a record may not set itself (rule 2), in no particular
/// order: they are moved in the order the record has them.
pub const RESERVED_FIELDS: [&str; 6] = [
    "project",
    "environment",
    "service",
    "log_kind",
    "starform_quarantine",
    "starform_shadowed",
];

/// Where rule 2 puts the reserved fields a record carried.
pub const SHADOWED_FIELD: &str = "starform_shadowed";
pub const QUARANTINE_FIELD: &str = "starform_quarantine";
pub const RAW_FIELD: &str = "starform_raw";
pub const RAW_BASE64_FIELD: &str = "starform_raw_base64";

/// Transforms one record and returns the output object's compact JSON.
pub fn transform(config: &CompiledConfig, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    transform_into(config, input, &mut out);
    out
}

/// Appends the output object's compact JSON for one record to `out` (no
/// newline) and says what was decided.
pub fn transform_into(config: &CompiledConfig, input: &[u8], out: &mut Vec<u8>) -> Outcome {
    transform_with_scratch(config, input, out, &mut Scratch::once())
}

/// [`transform_into`] with buffers kept between records. A record already in
/// output form (see `scan`) is copied and the verdict appended; rule 1's own
/// output in that form is copied as it is (a second pass writes it
/// unchanged); any other record takes the general path.
pub fn transform_with_scratch(
    config: &CompiledConfig,
    input: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Outcome {
    if is_malformed_output_form(input) {
        out.extend_from_slice(input);
        return Some(Reason::Malformed);
    }
    let Some(scanned) = scan(input, scratch, config.label_keys()) else {
        return transform_general_into(config, input, out);
    };
    let view = RecordView::of_scanned(&scanned);
    let size = u64::try_from(input.len()).unwrap_or(u64::MAX);
    let verdict = decide(config, &view, size);
    // Output form ends in `}`; the verdict's fields go before it.
    let body = input.get(..input.len().saturating_sub(1)).unwrap_or(&[]);
    out.extend_from_slice(body);
    append_verdict(verdict, body == b"{", out)
}

/// The general path alone: parse, decide, serialise. The fast path must
/// write exactly what this writes (tests and a fuzz target compare them).
#[doc(hidden)]
pub fn transform_general_into(config: &CompiledConfig, input: &[u8], out: &mut Vec<u8>) -> Outcome {
    transform_with(input, out, |record, size| {
        decide(config, &RecordView::of_map(record), size).map(ResolvedLabels::into_owned)
    })
}

/// As [`transform_into`] for a module whose configuration file was unusable:
/// rules 1 and 2 still apply, then every object is quarantined
/// `config_invalid` with `key` (the configuration field at fault, if known).
pub fn transform_unconfigured_into(key: Option<&str>, input: &[u8], out: &mut Vec<u8>) -> Outcome {
    let quarantine = Quarantine {
        reason: Reason::ConfigInvalid,
        key: key.map(|k| Cow::Owned(k.to_owned())),
    };
    transform_with(input, out, |_, _| Err(quarantine))
}

/// [`apply_with`], written to `out`. A record without reserved fields (nearly
/// every record) is serialised once, before the verdict: that JSON's length
/// is rule 3's measure, rule 2 has nothing to move, so the output is that
/// JSON with the verdict's fields added before the closing brace. Measuring
/// and then serialising the settled record was a third of the native time
/// (docs/performance.md).
fn transform_with(
    input: &[u8],
    out: &mut Vec<u8>,
    decide: impl FnOnce(&Map<String, Value>, u64) -> Result<ResolvedLabels<'static>, Quarantine>,
) -> Outcome {
    let record = match parse(input) {
        Ok(record) => record,
        Err(raw) => return write(malformed(raw), out),
    };
    // `is_malformed_output` needs `starform_quarantine`, a reserved field:
    // such a record takes the general path.
    if record.keys().any(|k| RESERVED_FIELDS.contains(&k.as_str())) {
        return write(settle(record, decide), out);
    }
    let start = out.len();
    let written = serde_json::to_writer(&mut *out, &record).is_ok();
    if !written || out.pop() != Some(b'}') {
        out.truncate(start);
        return write(settle(record, decide), out);
    }
    // Without reserved fields, the record's compact JSON is its measure.
    let size = u64::try_from(out.len() - start + 1).unwrap_or(u64::MAX);
    append_verdict(decide(&record, size), record.is_empty(), out)
}

/// Appends the verdict's fields and the closing brace to an object written
/// up to (not including) its `}`.
fn append_verdict(
    verdict: Result<ResolvedLabels<'_>, Quarantine>,
    empty: bool,
    out: &mut Vec<u8>,
) -> Outcome {
    if !empty {
        out.push(b',');
    }
    let outcome = match verdict {
        Ok(labels) => {
            let kind = if labels.build_id.is_some() {
                "build"
            } else {
                "runtime"
            };
            // Field names need no escaping: written as they are.
            // The values are DNS-1123 labels (rule 4 accepts nothing else):
            // nothing in them needs escaping.
            for (field, value) in [
                (&b"\"project\":\""[..], &*labels.project),
                (b"\",\"environment\":\"", &*labels.environment),
                (b"\",\"service\":\"", &*labels.service),
                (b"\",\"log_kind\":\"", kind),
            ] {
                out.extend_from_slice(field);
                out.extend_from_slice(value.as_bytes());
            }
            out.push(b'"');
            None
        }
        Err(q) => {
            out.extend_from_slice(b"\"starform_quarantine\":{\"reason\":\"");
            out.extend_from_slice(q.reason.code().as_bytes());
            out.extend_from_slice(b"\",\"key\":");
            match &q.key {
                Some(key) => json_string(key, out),
                None => out.extend_from_slice(b"null"),
            }
            out.push(b'}');
            Some(q.reason)
        }
    };
    out.push(b'}');
    outcome
}

/// A JSON string as serde_json writes it: `"` and `\\` escaped, control
/// characters as their short escape or `\u00xx`, everything else as is.
fn json_string(s: &str, out: &mut Vec<u8>) {
    let hex = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
    out.push(b'"');
    let bytes = s.as_bytes();
    if crate::scan::plain_ascii(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or(&[]));
        out.push(b'\\');
        if short == 0 {
            out.extend_from_slice(b"u00");
            out.push(hex(b >> 4));
            out.push(hex(b & 0xf));
        } else {
            out.push(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or(&[]));
    out.push(b'"');
}

fn write((object, outcome): (Map<String, Value>, Outcome), out: &mut Vec<u8>) -> Outcome {
    if serde_json::to_writer(&mut *out, &object).is_err() {
        return unwritable(out);
    }
    outcome
}

/// A serde_json::Value always serialises (its keys are strings); this only
/// keeps the one-object-out promise without panicking if one did not.
fn unwritable(out: &mut Vec<u8>) -> Outcome {
    out.extend_from_slice(br#"{"starform_quarantine":{"reason":"malformed","key":null}}"#);
    Some(Reason::Malformed)
}

/// The output object for one record and the decision behind it.
pub fn apply(config: &CompiledConfig, input: &[u8]) -> (Map<String, Value>, Outcome) {
    apply_with(input, |record, size| {
        decide(config, &RecordView::of_map(record), size).map(ResolvedLabels::into_owned)
    })
}

/// Rules 1, 2 and 6 around `decide` (rules 3–5).
fn apply_with(
    input: &[u8],
    decide: impl FnOnce(&Map<String, Value>, u64) -> Result<ResolvedLabels<'static>, Quarantine>,
) -> (Map<String, Value>, Outcome) {
    match parse(input) {
        Ok(record) => settle(record, decide),
        Err(raw) => malformed(raw),
    }
}

/// Rule 1 for input that is not a JSON object: kept raw, quarantined.
fn malformed(raw: Raw) -> (Map<String, Value>, Outcome) {
    let mut object = Map::new();
    match raw {
        Raw::Text(text) => object.insert(RAW_FIELD.into(), Value::String(text)),
        Raw::Bytes(b64) => object.insert(RAW_BASE64_FIELD.into(), Value::String(b64)),
    };
    let q = Quarantine::keyless(Reason::Malformed);
    object.insert(QUARANTINE_FIELD.into(), quarantine_value(&q));
    (object, Some(q.reason))
}

/// The verdict on a parsed record, then rule 2.
///
/// The verdict comes first (rules 3–5 read the record as received), then
/// rule 2 settles the reserved fields against what the verdict writes: that
/// order is what makes a second pass over an output a no-op.
fn settle(
    mut record: Map<String, Value>,
    decide: impl FnOnce(&Map<String, Value>, u64) -> Result<ResolvedLabels<'static>, Quarantine>,
) -> (Map<String, Value>, Outcome) {
    let verdict = if is_malformed_output(&record) {
        Err(Quarantine::keyless(Reason::Malformed))
    } else {
        decide(&record, measured_len(&record))
    };
    let (fields, outcome) = verdict_fields(verdict);
    settle_reserved(&mut record, fields);
    (record, outcome)
}

/// The fields a verdict writes, in order (rule 6 or the quarantine).
fn verdict_fields(
    verdict: Result<ResolvedLabels, Quarantine>,
) -> (Vec<(&'static str, Value)>, Outcome) {
    match verdict {
        Ok(labels) => (identity(labels), None),
        Err(q) => (
            vec![(QUARANTINE_FIELD, quarantine_value(&q))],
            Some(q.reason),
        ),
    }
}

/// Rule 1's output for input that was not an object, seen again (by the
/// aggregator after the node): exactly `starform_raw` or
/// `starform_raw_base64` (a string) and the `malformed` quarantine object.
fn is_malformed_output(record: &Map<String, Value>) -> bool {
    let raw = [RAW_FIELD, RAW_BASE64_FIELD]
        .iter()
        .any(|field| record.get(*field).is_some_and(Value::is_string));
    record.len() == 2
        && raw
        && record.get(QUARANTINE_FIELD)
            == Some(&quarantine_value(&Quarantine::keyless(Reason::Malformed)))
}

/// Input rule 1 rejects, as it will be kept.
enum Raw {
    Text(String),
    Bytes(String),
}

/// Rule 1: UTF-8, JSON (serde_json's nesting limit), an object.
fn parse(input: &[u8]) -> Result<Map<String, Value>, Raw> {
    let text = std::str::from_utf8(input).map_err(|_| Raw::Bytes(crate::base64::encode(input)))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Raw::Text(text.to_owned())),
    }
}

/// Rules 3–5 on the record as received; `size` is its [`measured_len`].
fn decide<'a, L: LabelMap + ?Sized>(
    config: &'a CompiledConfig,
    record: &RecordView<'a, L>,
    size: u64,
) -> Result<ResolvedLabels<'a>, Quarantine> {
    if size > config.max_record_bytes() {
        return Err(Quarantine::keyless(Reason::TooLarge));
    }
    let labels = label_set::resolve(config, record.sources)?;
    if let Some(template) = config.namespace_template() {
        let (field, namespace) = &record.namespace;
        let matches = namespace.as_deref().is_some_and(|ns| {
            template.matches(ns, &labels.project, &labels.environment, &labels.service)
        });
        if !matches {
            return Err(Quarantine::new(Reason::NamespaceMismatch, *field));
        }
    }
    Ok(labels)
}

/// Rule 2, then rule 6 or the quarantine: `written` are the fields this pass
/// appends, in order. A reserved field equal to the value written to it is
/// dropped (the written one replaces it); any other reserved field is moved,
/// in record order and unchanged, into a `starform_shadowed` object placed
/// after the record's other fields — taking an existing `starform_shadowed`
/// with it. With nothing to move, an existing `starform_shadowed` stays put.
fn settle_reserved(record: &mut Map<String, Value>, written: Vec<(&'static str, Value)>) {
    let found: Vec<String> = record
        .keys()
        .filter(|k| RESERVED_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut to_move = Vec::with_capacity(found.len());
    for key in found {
        let rewritten = written
            .iter()
            .any(|(field, value)| *field == key && record.get(&key) == Some(value));
        if rewritten {
            record.shift_remove(&key);
        } else {
            to_move.push(key);
        }
    }
    if to_move.iter().any(|k| k != SHADOWED_FIELD) {
        let mut shadowed = Map::new();
        for key in to_move {
            if let Some(value) = record.shift_remove(&key) {
                shadowed.insert(key, value);
            }
        }
        record.insert(SHADOWED_FIELD.into(), Value::Object(shadowed));
    }
    for (field, value) in written {
        record.insert(field.into(), value);
    }
}

/// Rule 6: the identity fields an accepted record gets, in order.
fn identity(labels: ResolvedLabels) -> Vec<(&'static str, Value)> {
    let kind = if labels.build_id.is_some() {
        "build"
    } else {
        "runtime"
    };
    vec![
        ("project", Value::String(labels.project.into_owned())),
        (
            "environment",
            Value::String(labels.environment.into_owned()),
        ),
        ("service", Value::String(labels.service.into_owned())),
        ("log_kind", Value::String(kind.into())),
    ]
}

/// The `starform_quarantine` object: `reason`, then `key`.
fn quarantine_value(q: &Quarantine) -> Value {
    let mut info = Map::new();
    info.insert("reason".into(), Value::String(q.reason.code().into()));
    info.insert(
        "key".into(),
        q.key
            .as_ref()
            .map_or(Value::Null, |k| Value::String(k.clone().into_owned())),
    );
    Value::Object(info)
}

/// Rule 3's measure: the compact JSON length of the record without its
/// top-level reserved fields (a pass adds, moves or drops only those, so a
/// second pass measures what the first did). Key order does not matter.
pub fn measured_len(record: &Map<String, Value>) -> u64 {
    let mut counter = ByteCounter(0);
    let mut first = true;
    counter.add(1);
    for (key, value) in record {
        if RESERVED_FIELDS.contains(&key.as_str()) {
            continue;
        }
        if !first {
            counter.add(1);
        }
        first = false;
        if serde_json::to_writer(&mut counter, key).is_err() {
            return u64::MAX;
        }
        counter.add(1);
        if serde_json::to_writer(&mut counter, value).is_err() {
            return u64::MAX;
        }
    }
    counter.add(1);
    counter.0
}

/// Length of the compact JSON encoding, without building it.
pub fn compact_len(record: &Map<String, Value>) -> u64 {
    let mut counter = ByteCounter(0);
    match serde_json::to_writer(&mut counter, record) {
        Ok(()) => counter.0,
        Err(_) => u64::MAX,
    }
}

struct ByteCounter(u64);

impl ByteCounter {
    fn add(&mut self, n: u64) {
        self.0 = self.0.saturating_add(n);
    }
}

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
