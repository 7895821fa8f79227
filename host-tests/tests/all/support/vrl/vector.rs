//! The generated VRL programs run in the real VRL engine the way Vector's
//! `remap` runs them (src/transforms/remap.rs in vectordotdev/vector):
//! the event is cloned before the run; on `abort` the *clone* is annotated
//! at `%vector.dropped` (log namespace "vector") and sent to the `dropped`
//! output, where the second `remap` runs the dropped program on it.

use serde_json::{Map, Number, Value as Json};
use vrl::compiler::runtime::{Runtime, Terminate};
use vrl::compiler::{Program, TargetValue, TimeZone};
use vrl::diagnostic::Formatter;
use vrl::value::{ObjectMap, Secrets, Value};

/// The id the deploy config gives the rules `remap` (deploy/vector/vector.yaml).
pub const RULES_COMPONENT: &str = "starform_labels";

/// How the record reaches the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `schema.log_namespace: true` with the `fluent` source: the event is
    /// empty and the record is `%fluent.record` (absent when the record has
    /// no keys), beside `%fluent.tag`, `%fluent.timestamp`, `%vector.*`.
    Vector,
    /// The record is the event itself (what the programs fall back to).
    Event,
}

/// A compiled program, checked the way the deploy needs it.
pub struct Compiled {
    pub program: Program,
}

/// Compiles `source` with VRL's stdlib; panics with the rendered
/// diagnostics on any error *or warning*.
pub fn compile(source: &str) -> Compiled {
    let functions = vrl::stdlib::all();
    let result = match vrl::compiler::compile(source, &functions) {
        Ok(result) => result,
        Err(diagnostics) => panic!(
            "VRL does not compile:\n{}\n{source}",
            Formatter::new(source, diagnostics)
        ),
    };
    assert!(
        result.warnings.is_empty(),
        "VRL compiles with warnings:\n{}\n{source}",
        Formatter::new(source, result.warnings)
    );
    Compiled {
        program: result.program,
    }
}

/// The rules and dropped programs as Vector wires them.
pub struct VectorTwin {
    rules: Compiled,
    dropped: Compiled,
    runtime: Runtime,
}

impl VectorTwin {
    pub fn new(rules_source: &str, dropped_source: &str) -> Self {
        let rules = compile(rules_source);
        let dropped = compile(dropped_source);
        // A runtime error would, with drop_on_error, also go to `dropped`,
        // without the abort message: the programs must not be able to fail.
        assert!(
            !rules.program.info().fallible,
            "the rules program can fail at runtime"
        );
        assert!(
            rules.program.info().abortable,
            "the rules program never aborts"
        );
        assert!(
            !dropped.program.info().fallible,
            "the dropped program can fail at runtime"
        );
        assert!(
            !dropped.program.info().abortable,
            "the dropped program can abort"
        );
        Self {
            rules,
            dropped,
            runtime: Runtime::default(),
        }
    }

    /// The record that leaves Vector (either output) for `record`.
    pub fn run(
        &mut self,
        record: &Map<String, Json>,
        namespace: Namespace,
    ) -> Result<Json, String> {
        let (target, _) = self.run_event(event(record, namespace))?;
        to_json(&target.value)
    }

    /// The event that leaves Vector for `original`, and whether it left on
    /// the `dropped` route.
    pub fn run_event(&mut self, original: TargetValue) -> Result<(TargetValue, bool), String> {
        let mut target = copy(&original);
        let result = self
            .runtime
            .resolve(&mut target, &self.rules.program, &TimeZone::default());
        self.runtime.clear();
        match result {
            Ok(_) => Ok((target, false)),
            Err(Terminate::Abort(error)) => {
                // Vector: the last user error note, else the error's display
                // (for `abort "…"`, the message itself).
                let mut dropped = original;
                let annotation = Value::from(ObjectMap::from([
                    ("reason".into(), Value::from("abort")),
                    ("message".into(), Value::from(error.to_string())),
                    ("component_id".into(), Value::from(RULES_COMPONENT)),
                    ("component_type".into(), Value::from("remap")),
                    ("component_kind".into(), Value::from("transform")),
                ]));
                insert_metadata(&mut dropped.metadata, &["vector", "dropped"], annotation);
                let result =
                    self.runtime
                        .resolve(&mut dropped, &self.dropped.program, &TimeZone::default());
                self.runtime.clear();
                match result {
                    Ok(_) => Ok((dropped, true)),
                    Err(e) => Err(format!("the dropped program terminated: {e:?}")),
                }
            }
            Err(e) => Err(format!("the rules program terminated: {e:?}")),
        }
    }
}

/// The event the fluent source (or another source) hands the rules `remap`.
pub fn event(record: &Map<String, Json>, namespace: Namespace) -> TargetValue {
    let record = Value::Object(
        record
            .iter()
            .map(|(k, v)| (k.as_str().into(), from_json(v)))
            .collect(),
    );
    match namespace {
        Namespace::Event => TargetValue {
            value: record,
            metadata: Value::Object(ObjectMap::new()),
            secrets: Secrets::new(),
        },
        Namespace::Vector => {
            let mut metadata = Value::Object(ObjectMap::new());
            insert_metadata(
                &mut metadata,
                &["vector", "source_type"],
                Value::from("fluent"),
            );
            insert_metadata(
                &mut metadata,
                &["fluent", "tag"],
                Value::from("kube.var.log.containers.x.log"),
            );
            // The fluent source inserts one `%fluent.record.<key>` per key,
            // so an empty record leaves no `%fluent.record` at all.
            if record.as_object().is_some_and(|o| !o.is_empty()) {
                insert_metadata(&mut metadata, &["fluent", "record"], record);
            }
            TargetValue {
                value: Value::Object(ObjectMap::new()),
                metadata,
                secrets: Secrets::new(),
            }
        }
    }
}

/// Runs `program` on `target` to completion (`Err` on abort or error).
pub fn run(program: &Program, target: &mut TargetValue) -> Result<(), String> {
    let result = Runtime::default().resolve(target, program, &TimeZone::default());
    result.map(|_| ()).map_err(|e| format!("{e:?}"))
}

/// `TargetValue` is not `Clone`; Vector clones the whole event.
pub fn copy(target: &TargetValue) -> TargetValue {
    TargetValue {
        value: target.value.clone(),
        metadata: target.metadata.clone(),
        secrets: Secrets::new(),
    }
}

pub fn insert_metadata(metadata: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = metadata;
    for key in parents {
        let Value::Object(map) = here else {
            panic!("metadata {key} is not an object")
        };
        here = map
            .entry((*key).into())
            .or_insert_with(|| Value::Object(ObjectMap::new()));
    }
    let Value::Object(map) = here else {
        panic!("metadata parent of {last} is not an object")
    };
    map.insert((*last).into(), value);
}

/// JSON → VRL the way Vector's decoders do it: integers beyond i64 become
/// strings (rmpv → Value in the fluent source, and serde_json → Value).
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Integer(i),
            (None, Some(_)) if n.is_u64() => bytes(n.to_string()),
            (None, Some(f)) => Value::from_f64_or_zero(f),
            (None, None) => bytes(n.to_string()),
        },
        Json::String(s) => bytes(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        Json::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.as_str().into(), from_json(v)))
                .collect(),
        ),
    }
}

/// Vector's sources produce `Value::Bytes` for strings (VRL literals are
/// `Value::String`; the two compare equal).
fn bytes(s: String) -> Value {
    Value::Bytes(s.into_bytes().into())
}

/// VRL → JSON for comparison. Strings are UTF-8 here (they came from JSON);
/// a timestamp or regex would mean the program invented a value.
pub fn to_json(value: &Value) -> Result<Json, String> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::Number((*i).into()),
        Value::Float(f) => {
            Json::Number(Number::from_f64(f.into_inner()).ok_or("non-finite float")?)
        }
        Value::Bytes(b) => Json::String(String::from_utf8(b.to_vec()).map_err(|e| e.to_string())?),
        Value::String(s) => Json::String(s.to_string()),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Object(o) => Json::Object(
            o.iter()
                .map(|(k, v)| Ok((k.to_string(), to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unexpected VRL value {other:?}")),
    })
}
