//! The rulebook (docs/contracts.md, "Log label-set transform") applied to one
//! record: bytes in, one JSON object out.

use std::io::Write;

use serde_json::{Map, Value};

use crate::config::CompiledConfig;
use crate::label_set::{self, ResolvedLabels};
use crate::outcome::{Outcome, Quarantine, Reason};

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
    write(apply(config, input), out)
}

/// As [`transform_into`] for a module whose configuration file was unusable:
/// rules 1 and 2 still apply, then every object is quarantined
/// `config_invalid` with `key` (the configuration field at fault, if known).
pub fn transform_unconfigured_into(key: Option<&str>, input: &[u8], out: &mut Vec<u8>) -> Outcome {
    let quarantine = Quarantine {
        reason: Reason::ConfigInvalid,
        key: key.map(str::to_owned),
    };
    write(apply_with(input, |_, _| Err(quarantine)), out)
}

fn write((object, outcome): (Map<String, Value>, Outcome), out: &mut Vec<u8>) -> Outcome {
    if serde_json::to_writer(&mut *out, &object).is_err() {
        // A serde_json::Value always serialises (its keys are strings); this
        // arm only keeps the one-object-out promise without panicking.
        out.extend_from_slice(br#"{"starform_quarantine":{"reason":"malformed","key":null}}"#);
        return Some(Reason::Malformed);
    }
    outcome
}

/// The output object for one record and the decision behind it.
pub fn apply(config: &CompiledConfig, input: &[u8]) -> (Map<String, Value>, Outcome) {
    apply_with(input, |record, size| decide(config, record, size))
}

/// Rules 1, 2 and 6 around `decide` (rules 3–5).
fn apply_with(
    input: &[u8],
    decide: impl FnOnce(&Map<String, Value>, u64) -> Result<ResolvedLabels, Quarantine>,
) -> (Map<String, Value>, Outcome) {
    let mut record = match parse(input) {
        Ok(record) => record,
        Err(raw) => {
            let mut object = Map::new();
            match raw {
                Raw::Text(text) => object.insert(RAW_FIELD.into(), Value::String(text)),
                Raw::Bytes(b64) => object.insert(RAW_BASE64_FIELD.into(), Value::String(b64)),
            };
            let q = Quarantine::keyless(Reason::Malformed);
            mark_quarantined(&mut object, &q);
            return (object, Some(q.reason));
        }
    };
    let size = compact_len(&record);
    shadow_reserved(&mut record);
    match decide(&record, size) {
        Ok(labels) => {
            accept(&mut record, labels);
            (record, None)
        }
        Err(q) => {
            mark_quarantined(&mut record, &q);
            (record, Some(q.reason))
        }
    }
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

/// Rules 3–5 on a record already shadowed; `size` is its encoding as received.
fn decide(
    config: &CompiledConfig,
    record: &Map<String, Value>,
    size: u64,
) -> Result<ResolvedLabels, Quarantine> {
    if size > config.max_record_bytes() {
        return Err(Quarantine::keyless(Reason::TooLarge));
    }
    let shape = Shape::of(record);
    let labels = label_set::resolve(config, shape.map(|(labels, _)| labels))?;
    if let (Some(template), Some((_, namespace_field))) = (config.namespace_template(), shape) {
        let namespace = kubernetes(record)
            .and_then(|k| k.get(namespace_field))
            .and_then(Value::as_str);
        let matches = namespace.is_some_and(|ns| {
            template.matches(ns, &labels.project, &labels.environment, &labels.service)
        });
        if !matches {
            return Err(Quarantine::new(
                Reason::NamespaceMismatch,
                format!("kubernetes.{namespace_field}"),
            ));
        }
    }
    Ok(labels)
}

fn kubernetes(record: &Map<String, Value>) -> Option<&Map<String, Value>> {
    record.get("kubernetes").and_then(Value::as_object)
}

/// Which collector's field names a record uses.
struct Shape;

impl Shape {
    /// The label map and the name of the namespace field beside it.
    fn of(record: &Map<String, Value>) -> Option<(&Map<String, Value>, &'static str)> {
        let k8s = kubernetes(record)?;
        if let Some(labels) = k8s.get("labels").and_then(Value::as_object) {
            return Some((labels, "namespace_name"));
        }
        k8s.get("pod_labels")
            .and_then(Value::as_object)
            .map(|labels| (labels, "pod_namespace"))
    }
}

/// Rule 2: moves the reserved top-level fields, in record order and with
/// their values unchanged, into a `starform_shadowed` object at the end.
fn shadow_reserved(record: &mut Map<String, Value>) {
    let found: Vec<String> = record
        .keys()
        .filter(|k| RESERVED_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    if found.is_empty() {
        return;
    }
    let mut shadowed = Map::new();
    for key in found {
        if let Some(value) = record.shift_remove(&key) {
            shadowed.insert(key, value);
        }
    }
    record.insert(SHADOWED_FIELD.into(), Value::Object(shadowed));
}

/// Rule 6.
fn accept(record: &mut Map<String, Value>, labels: ResolvedLabels) {
    let kind = if labels.build_id.is_some() {
        "build"
    } else {
        "runtime"
    };
    record.insert("project".into(), Value::String(labels.project));
    record.insert("environment".into(), Value::String(labels.environment));
    record.insert("service".into(), Value::String(labels.service));
    record.insert("log_kind".into(), Value::String(kind.into()));
}

fn mark_quarantined(record: &mut Map<String, Value>, q: &Quarantine) {
    let mut info = Map::new();
    info.insert("reason".into(), Value::String(q.reason.code().into()));
    info.insert(
        "key".into(),
        q.key.clone().map_or(Value::Null, Value::String),
    );
    record.insert(QUARANTINE_FIELD.into(), Value::Object(info));
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

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
