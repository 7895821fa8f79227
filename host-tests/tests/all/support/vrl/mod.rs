//! The three engines of the log rulebook side by side: the native core, the
//! compiled wasm module under wasmtime, and the generated VRL in the VRL
//! engine wired as Vector wires it.

pub mod records;
pub mod shrink;
pub mod vector;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value as Json};
use starform_vector_transform::config::CompiledConfig;
use starform_vector_transform::{TransformConfig, QUARANTINE_FIELD};
use starform_wasm::log_host::LogTransform;
use starform_wasm::vrl_program;

pub use vector::Namespace;

/// The output of each engine for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub native: Json,
    pub wasm: Json,
    pub vrl: Result<Json, String>,
}

impl Outputs {
    pub fn agree(&self) -> bool {
        self.native == self.wasm && self.vrl.as_ref() == Ok(&self.native)
    }
}

/// One configuration, loaded into all three engines once.
pub struct Engines {
    pub name: String,
    pub config_json: String,
    pub config: TransformConfig,
    compiled: CompiledConfig,
    wasm: LogTransform,
    vector: vector::VectorTwin,
}

impl Engines {
    pub fn new(name: &str, config_json: &str) -> Self {
        Self::with_edits(name, config_json, |rules, dropped| (rules, dropped))
    }

    /// As [`Engines::new`], with the generated programs passed through
    /// `edit` first (to check that the comparison catches a wrong program).
    pub fn with_edits(
        name: &str,
        config_json: &str,
        edit: impl FnOnce(String, String) -> (String, String),
    ) -> Self {
        let config: TransformConfig =
            serde_json::from_str(config_json).expect("test configuration parses");
        let compiled = CompiledConfig::compile(&config).expect("test configuration is valid");
        let (rules_program, dropped_program) = edit(
            vrl_program::generate(&config).expect("generates"),
            vrl_program::generate_dropped(),
        );
        let vector = vector::VectorTwin::new(&rules_program, &dropped_program);
        let wasm = LogTransform::with_config(config_json.as_bytes())
            .expect("module accepts the configuration");
        Self {
            name: name.into(),
            config_json: config_json.into(),
            config,
            compiled,
            wasm,
            vector,
        }
    }

    /// Runs `input` (one JSON object, as bytes) through the three engines.
    pub fn outputs(
        &mut self,
        input: &[u8],
        record: &Map<String, Json>,
        namespace: Namespace,
    ) -> Outputs {
        let (native, _) = starform_vector_transform::apply(&self.compiled, input);
        let wasm_bytes = self.wasm.transform(input).expect("module runs");
        let wasm = serde_json::from_slice(&wasm_bytes).expect("module writes JSON");
        let vrl = self.vector.run(record, namespace);
        Outputs {
            native: Json::Object(native),
            wasm,
            vrl,
        }
    }

    /// Runs a generated record (encoded compactly for the module).
    pub fn outputs_for(&mut self, record: &Map<String, Json>, namespace: Namespace) -> Outputs {
        let input = serde_json::to_vec(record).expect("encodes");
        self.outputs(&input, record, namespace)
    }

    /// The node→aggregator double pass for `input`: the module's output
    /// (`first`), that output through the module again, and through the VRL
    /// programs as Vector receives it from Fluent Bit (with whether it left
    /// on the `dropped` route).
    pub fn second_pass(&mut self, input: &[u8], namespace: Namespace) -> SecondPass {
        let first = self.wasm.transform(input).expect("module runs");
        let module_again = self.wasm.transform(&first).expect("module runs");
        let record: Map<String, Json> =
            serde_json::from_slice(&first).expect("module writes an object");
        let vrl = self
            .vector
            .run_event(vector::event(&record, namespace))
            .and_then(|(target, dropped)| Ok((vector::to_json(&target.value)?, dropped)));
        SecondPass {
            first,
            module_again,
            vrl,
        }
    }

    /// A readable account of a difference, with the record shrunk to the
    /// smallest one that still shows it.
    pub fn explain(&mut self, record: &Map<String, Json>, namespace: Namespace) -> String {
        let minimal = shrink::shrink(record, |candidate| {
            !self.outputs_for(candidate, namespace).agree()
        });
        let outputs = self.outputs_for(&minimal, namespace);
        let mut s = String::new();
        let _ = writeln!(s, "configuration {} = {}", self.name, self.config_json);
        let _ = writeln!(s, "record reaches VRL as: {namespace:?}");
        let _ = writeln!(s, "minimal input: {}", Json::Object(minimal));
        let _ = writeln!(s, "native: {}", outputs.native);
        let _ = writeln!(s, "wasm:   {}", outputs.wasm);
        match &outputs.vrl {
            Ok(v) => {
                let _ = writeln!(s, "vrl:    {v}");
            }
            Err(e) => {
                let _ = writeln!(s, "vrl:    ERROR {e}");
            }
        }
        let _ = writeln!(
            s,
            "original input: {}",
            truncated(&Json::Object(record.clone()).to_string())
        );
        s
    }
}

fn truncated(s: &str) -> String {
    if s.len() <= 2000 {
        return s.to_owned();
    }
    let mut end = 2000;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// See [`Engines::second_pass`].
#[derive(Debug)]
pub struct SecondPass {
    pub first: Vec<u8>,
    pub module_again: Vec<u8>,
    pub vrl: Result<(Json, bool), String>,
}

/// `accepted` or the quarantine reason of an output record.
pub fn outcome(output: &Json) -> String {
    match output
        .get(QUARANTINE_FIELD)
        .and_then(|q| q.get("reason"))
        .and_then(Json::as_str)
    {
        Some(reason) => reason.to_owned(),
        None => "accepted".to_owned(),
    }
}

/// Outcome → count.
pub type Tally = BTreeMap<String, u64>;
