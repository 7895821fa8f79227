//! The log transform's rulebook (docs/contracts.md, "Log label-set
//! transform") written out again as an oracle: the exact output object for
//! one input record under a configuration.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use starform_vector_transform::TransformConfig;

use crate::contract::normalized_label;
use crate::json::one_object;

/// Top-level fields a record may not set itself (rule 2).
const RESERVED: [&str; 6] = [
    "project",
    "environment",
    "service",
    "log_kind",
    "starform_quarantine",
    "starform_shadowed",
];

const CANONICAL: [&str; 4] = [
    "starform.io/project",
    "starform.io/environment",
    "starform.io/service",
    "starform.io/build-id",
];

/// What the rules decide about a record that is a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted {
        project: String,
        environment: String,
        service: String,
        build: bool,
    },
    Quarantined {
        reason: &'static str,
        key: Option<String>,
    },
}

impl Verdict {
    fn quarantine(reason: &'static str, key: Option<&str>) -> Self {
        Verdict::Quarantined {
            reason,
            key: key.map(str::to_owned),
        }
    }

    /// The fields this verdict writes at the end of the record, in order.
    fn written(&self) -> Vec<(&'static str, Value)> {
        match self {
            Verdict::Accepted {
                project,
                environment,
                service,
                build,
            } => vec![
                ("project", Value::String(project.clone())),
                ("environment", Value::String(environment.clone())),
                ("service", Value::String(service.clone())),
                (
                    "log_kind",
                    Value::String(if *build { "build" } else { "runtime" }.into()),
                ),
            ],
            Verdict::Quarantined { reason, key } => {
                vec![(
                    "starform_quarantine",
                    quarantine_object(reason, key.clone()),
                )]
            }
        }
    }
}

fn quarantine_object(reason: &str, key: Option<String>) -> Value {
    let mut q = Map::new();
    q.insert("reason".into(), Value::String(reason.into()));
    q.insert("key".into(), key.map_or(Value::Null, Value::String));
    Value::Object(q)
}

/// The exact output object the rules must produce for `input`.
pub fn expected_output(config: &TransformConfig, input: &[u8]) -> Map<String, Value> {
    let malformed = || quarantine_object("malformed", None);
    let Ok(text) = std::str::from_utf8(input) else {
        let mut out = Map::new();
        out.insert("starform_raw_base64".into(), Value::String(base64(input)));
        out.insert("starform_quarantine".into(), malformed());
        return out;
    };
    let record = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(record)) => record,
        _ => {
            let mut out = Map::new();
            out.insert("starform_raw".into(), Value::String(text.to_owned()));
            out.insert("starform_quarantine".into(), malformed());
            return out;
        }
    };
    let verdict = verdict(config, &record);
    settle(record, &verdict)
}

/// Rules 3–5 (and rule 1's "a malformed output seen again") on an object.
pub fn verdict(config: &TransformConfig, record: &Map<String, Value>) -> Verdict {
    let raw_kept = ["starform_raw", "starform_raw_base64"]
        .iter()
        .any(|f| record.get(*f).is_some_and(Value::is_string));
    if record.len() == 2
        && raw_kept
        && record.get("starform_quarantine") == Some(&quarantine_object("malformed", None))
    {
        return Verdict::quarantine("malformed", None);
    }
    let unreserved: Map<String, Value> = record
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let size = serde_json::to_vec(&unreserved).map_or(u64::MAX, |v| v.len() as u64);
    if size > config.max_record_bytes {
        return Verdict::quarantine("too_large", None);
    }
    // Rule 4's sources: `labels`, then `pod_labels` (objects only); the
    // namespace checked is the one beside the first present.
    let kubernetes = record.get("kubernetes").and_then(Value::as_object);
    let map = |field: &str| {
        kubernetes
            .and_then(|k| k.get(field))
            .and_then(Value::as_object)
    };
    let sources: Vec<&Map<String, Value>> = [map("labels"), map("pod_labels")]
        .into_iter()
        .flatten()
        .collect();
    if sources.is_empty() {
        return Verdict::quarantine("missing_label", Some(CANONICAL[0]));
    }
    let namespace_field = if map("labels").is_some() {
        "namespace_name"
    } else {
        "pod_namespace"
    };
    let mut settled: [Option<String>; 4] = Default::default();
    for (index, canonical) in CANONICAL.iter().enumerate() {
        let mut candidates = vec![(*canonical).to_owned()];
        candidates.extend(
            config
                .key_aliases
                .iter()
                .filter(|(_, target)| target == canonical)
                .map(|(legacy, _)| legacy.clone()),
        );
        let visits = sources
            .iter()
            .flat_map(|labels| candidates.iter().map(move |key| (labels, key)));
        for (labels, key) in visits {
            let Some(raw) = labels.get(key) else {
                continue;
            };
            let value = raw.as_str().and_then(|text| {
                if index == 3 {
                    let trimmed = text.trim();
                    (!trimmed.is_empty()).then(|| trimmed.to_owned())
                } else {
                    let label = normalized_label(text)?;
                    if index == 1 {
                        Some(aliased(&config.environment_aliases, label))
                    } else {
                        Some(label)
                    }
                }
            });
            let Some(value) = value else {
                return Verdict::quarantine("invalid_value", Some(key));
            };
            match &settled[index] {
                None => settled[index] = Some(value),
                Some(first) if *first != value => {
                    return Verdict::quarantine("conflict", Some(key))
                }
                Some(_) => {}
            }
        }
        if index < 3 && settled[index].is_none() {
            return Verdict::quarantine("missing_label", Some(canonical));
        }
    }
    let [Some(project), Some(environment), Some(service), build] = settled else {
        unreachable!("required values are settled above");
    };
    if let Some(template) = &config.namespace_template {
        let want = template
            .replace("{project}", &project)
            .replace("{environment}", &environment)
            .replace("{service}", &service);
        let namespace = kubernetes
            .and_then(|k| k.get(namespace_field))
            .and_then(Value::as_str);
        if namespace != Some(want.as_str()) {
            return Verdict::quarantine(
                "namespace_mismatch",
                Some(&format!("kubernetes.{namespace_field}")),
            );
        }
    }
    Verdict::Accepted {
        project,
        environment,
        service,
        build: build.is_some(),
    }
}

fn aliased(aliases: &BTreeMap<String, String>, label: String) -> String {
    aliases.get(&label).cloned().unwrap_or(label)
}

/// Rule 2 and rule 6: reserved fields equal to what the verdict writes are
/// replaced; other reserved fields move, in record order, into
/// `starform_shadowed` (placed after the record's fields) when any field other
/// than `starform_shadowed` moves; then the verdict's fields are appended.
fn settle(mut record: Map<String, Value>, verdict: &Verdict) -> Map<String, Value> {
    let written = verdict.written();
    let reserved: Vec<String> = record
        .keys()
        .filter(|k| RESERVED.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut moved = Vec::new();
    for key in reserved {
        let same = written
            .iter()
            .any(|(field, value)| *field == key && record.get(&key) == Some(value));
        if same {
            record.shift_remove(&key);
        } else {
            moved.push(key);
        }
    }
    if moved.iter().any(|k| k != "starform_shadowed") {
        let mut shadowed = Map::new();
        for key in moved {
            if let Some(value) = record.shift_remove(&key) {
                shadowed.insert(key, value);
            }
        }
        record.insert("starform_shadowed".into(), Value::Object(shadowed));
    }
    for (field, value) in written {
        record.insert(field.into(), value);
    }
    record
}

/// RFC 4648 base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Panics (a finding) unless `output` is exactly the object the rules give
/// `input`: same fields, same values, same order. The identity fields can
/// then only be the normalised labels, or absent under a quarantine.
pub fn check(config: &TransformConfig, input: &[u8], output: &[u8], context: &str) {
    let got = one_object(output, context);
    let want = expected_output(config, input);
    let got_keys: Vec<&String> = got.keys().collect();
    let want_keys: Vec<&String> = want.keys().collect();
    if got != want || got_keys != want_keys {
        panic!(
            "{context}: output differs from the rulebook\n input: {:?}\n  got: {}\n want: {}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(output),
            Value::Object(want)
        );
    }
}
