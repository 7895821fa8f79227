//! The VRL twin of the log label-set transform.
//!
//! Vector cannot load WebAssembly (its `wasm` transform was removed in
//! v0.17), so the aggregator runs the rulebook (docs/contracts.md, "Log
//! label-set transform") as VRL in a `remap` transform. The program is
//! generated from the same configuration the wasm module reads, and
//! host-tests/tests/all/vrl_differential.rs proves the two give the same output.
//!
//! Two programs, because Vector sends an aborted event to
//! `<remap>.dropped` as it was *before* the program ran:
//! - [`generate`]: the rules. An accepted record leaves the `remap` shaped
//!   as the module shapes it; a quarantined one makes the program `abort`
//!   with the message `{"reason":…,"key":…}`, which Vector writes into the
//!   dropped event's metadata at `%vector.dropped.message`.
//! - [`generate_dropped`]: runs on `<remap>.dropped`; lifts the abort
//!   message into `.starform_quarantine` and applies rule 2 against it (rule
//!   2 applies to quarantined records too).
//!
//! Both read the record from `%fluent.record` when it is there (Vector's log
//! namespace with the `fluent` source, see deploy/vector/README.md), else
//! from the event itself.

mod emit;
mod literal;

use starform_vector_transform::config::{
    CompiledConfig, ConfigError, TemplatePart, TransformConfig, CANONICAL_KEYS,
};
use starform_vector_transform::{
    Reason, QUARANTINE_FIELD, RAW_BASE64_FIELD, RAW_FIELD, RESERVED_FIELDS, SHADOWED_FIELD,
};

use emit::Emitter;

/// The ASCII-only DNS-1123 shape, checked *before* lowercasing: VRL's
/// `downcase` (like a `(?i)` regex) folds Unicode, which would turn the
/// Kelvin sign U+212A into an ASCII `k`; the rulebook lowercases ASCII
/// letters only and rejects everything else.
const LABEL_PATTERN: &str = "^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$";

/// The value VRL variables hold until a candidate is found. Never a valid
/// value: DNS labels and trimmed build ids are non-empty.
const UNSET: &str = "\"\"";

/// Reason given to an unexpected entry on the dropped route (a runtime error
/// rather than our `abort`); cannot happen while the rules program is
/// infallible, which the differential test asserts.
pub const UNEXPECTED_DROP_REASON: &str = "vector_error";

/// The rules program for `config`. Fails (naming the field) when the
/// configuration is invalid.
pub fn generate(config: &TransformConfig) -> Result<String, ConfigError> {
    let compiled = CompiledConfig::compile(config)?;
    let mut out = Emitter::new();
    header(&mut out, "rules", Some(config));
    take_record(&mut out);

    out.blank();
    out.comment("Rule 1: a first pass's output for input that was not an object stays malformed.");
    out.open(&format!(
        "if length(.) == 2 && .{QUARANTINE_FIELD} == {} && (is_string(.{RAW_FIELD}) || is_string(.{RAW_BASE64_FIELD}))",
        quarantine_object(Reason::Malformed, None)
    ));
    out.line(&abort(Reason::Malformed, None));
    out.close();

    out.blank();
    out.comment(
        "Rule 3: the record as received without its top-level reserved fields, compact JSON, in bytes.",
    );
    out.line("measured = .");
    for field in RESERVED_FIELDS {
        out.line(&format!("del(measured.{field})"));
    }
    out.open(&format!(
        "if length(encode_json(measured)) > {}",
        compiled.max_record_bytes()
    ));
    out.line(&abort(Reason::TooLarge, None));
    out.close();

    out.blank();
    label_map(&mut out, compiled.namespace_template().is_some());

    let names = ["project", "environment", "service", "build_id"];
    for (index, name) in names.iter().enumerate() {
        out.blank();
        dimension(&mut out, &compiled, config, index, name);
    }

    if let Some(template) = compiled.namespace_template() {
        out.blank();
        out.comment("Rule 5: the namespace must equal the template filled with the final values.");
        let expected: Vec<String> = template
            .parts()
            .iter()
            .map(|part| match part {
                TemplatePart::Literal(s) => literal::string(s),
                TemplatePart::Project => "project".to_owned(),
                TemplatePart::Environment => "environment".to_owned(),
                TemplatePart::Service => "service".to_owned(),
            })
            .collect();
        out.open(&format!("if namespace != {}", expected.join(" + ")));
        out.open("if fluent_bit_shape");
        out.line(&abort(
            Reason::NamespaceMismatch,
            Some("kubernetes.namespace_name"),
        ));
        out.close_open("else");
        out.line(&abort(
            Reason::NamespaceMismatch,
            Some("kubernetes.pod_namespace"),
        ));
        out.close();
        out.close();
    }

    out.blank();
    out.comment("Rule 6: accept.");
    out.line("log_kind = \"runtime\"");
    out.open(&format!("if build_id != {UNSET}"));
    out.line("log_kind = \"build\"");
    out.close();
    out.blank();
    shadow(&mut out, &ACCEPT_WRITES);
    out.blank();
    for field in ACCEPT_WRITES {
        out.line(&format!(".{field} = {field}"));
    }
    Ok(out.finish())
}

/// The program for the rules `remap`'s `dropped` output.
pub fn generate_dropped() -> String {
    let mut out = Emitter::new();
    header(&mut out, "dropped", None);
    out.comment("Vector reroutes an aborted event as it was before the rules ran, with");
    out.comment(
        "%vector.dropped = {reason: \"abort\", message: <the abort message>, component_id, …}.",
    );
    take_record(&mut out);
    out.blank();
    out.comment("The rules program aborts with the JSON of {\"reason\": …, \"key\": …}.");
    out.line("quarantine = parse_json(%vector.dropped.message) ?? null");
    out.line(&format!(
        "{QUARANTINE_VAR} = object(quarantine) ?? {{\"reason\": {}, \"key\": null}}",
        literal::string(UNEXPECTED_DROP_REASON)
    ));
    out.blank();
    shadow(&mut out, &[QUARANTINE_FIELD]);
    out.blank();
    out.line(&format!(".{QUARANTINE_FIELD} = {QUARANTINE_VAR}"));
    out.finish()
}

fn header(out: &mut Emitter, which: &str, config: Option<&TransformConfig>) {
    out.comment(&format!(
        "Starform log label-set transform, VRL twin of the wasm module ({which} program)."
    ));
    out.comment(
        "Rulebook: docs/contracts.md, \"Log label-set transform\"; flow: deploy/vector/README.md.",
    );
    out.comment("Generated by `starform-wasm vrl` from the transform configuration: do not edit.");
    if let Some(config) = config {
        // Compact JSON has no raw newline, so it fits one comment line.
        let json = serde_json::to_string(config).unwrap_or_default();
        out.comment(&format!("Configuration: {json}"));
    }
}

/// The Fluent Bit record is `%fluent.record` under Vector's log namespace
/// (the event itself is then empty); without it the event is the record.
fn take_record(out: &mut Emitter) {
    out.blank();
    out.open("if exists(%fluent.record)");
    out.line(". = object(del(%fluent.record)) ?? {}");
    out.close();
}

/// The fields an accepted record gets, in order; the rules program holds
/// each final value in the VRL variable of the same name.
const ACCEPT_WRITES: [&str; 4] = ["project", "environment", "service", "log_kind"];

/// The dropped program's variable holding the `starform_quarantine` object.
const QUARANTINE_VAR: &str = "starform_quarantine";

/// Rule 2, applied by both programs once the verdict is known: `written`
/// are the reserved fields the program is about to set, each from the VRL
/// variable of the same name. A reserved field equal to the value written
/// to it is dropped; the others move into starform_shadowed, and an existing
/// starform_shadowed moves with them only when there is something to move.
fn shadow(out: &mut Emitter, written: &[&str]) {
    out.comment("Rule 2: a reserved top-level field equal to the value written to it is replaced;");
    out.comment(
        "the others are moved, unchanged, into starform_shadowed (an existing one with them).",
    );
    out.line("shadowed = {}");
    for field in RESERVED_FIELDS {
        if field == SHADOWED_FIELD {
            continue;
        }
        out.open(&format!("if exists(.{field})"));
        if written.contains(&field) {
            out.line(&format!("value = del(.{field})"));
            out.open(&format!("if value != {field}"));
            out.line(&format!("shadowed.{field} = value"));
            out.close();
        } else {
            out.line(&format!("shadowed.{field} = del(.{field})"));
        }
        out.close();
    }
    out.open("if length(shadowed) > 0");
    out.open(&format!("if exists(.{SHADOWED_FIELD})"));
    out.line(&format!(
        "shadowed.{SHADOWED_FIELD} = del(.{SHADOWED_FIELD})"
    ));
    out.close();
    out.line(&format!(".{SHADOWED_FIELD} = shadowed"));
    out.close();
}

/// The label maps rule 4 reads, as the VRL variables of [`SOURCES`] (an
/// empty object where the record has no such map), and the namespace beside
/// the first one present.
fn label_map(out: &mut Emitter, with_namespace: bool) {
    out.comment("Rule 4's sources: kubernetes.labels (Fluent Bit's kubernetes filter), then");
    out.comment("kubernetes.pod_labels (Vector's kubernetes_logs), each only when an object.");
    if with_namespace {
        out.comment("The namespace checked is the one beside the first of them present.");
    }
    for source in SOURCES {
        out.line(&format!("{source} = {{}}"));
    }
    if with_namespace {
        out.line("namespace = null");
        out.line("fluent_bit_shape = true");
    }
    out.open("if !is_object(.kubernetes.labels) && !is_object(.kubernetes.pod_labels)");
    out.line(&abort(
        Reason::MissingLabel,
        Some(starform_labels::keys::PROJECT),
    ));
    out.close();
    out.open("if is_object(.kubernetes.labels)");
    out.line("labels = .kubernetes.labels");
    if with_namespace {
        out.line("namespace = .kubernetes.namespace_name");
        out.close_open("else");
        out.line("namespace = .kubernetes.pod_namespace");
        out.line("fluent_bit_shape = false");
    }
    out.close();
    out.open("if is_object(.kubernetes.pod_labels)");
    out.line("pod_labels = .kubernetes.pod_labels");
    out.close();
}

/// The VRL variables holding rule 4's label maps, in the order it visits
/// them (each named after the record field it comes from).
const SOURCES: [&str; 2] = ["labels", "pod_labels"];

/// Rule 4 for the canonical key at `index` of [`CANONICAL_KEYS`], settling
/// the VRL variable `name`.
fn dimension(
    out: &mut Emitter,
    compiled: &CompiledConfig,
    config: &TransformConfig,
    index: usize,
    name: &str,
) {
    let canonical = CANONICAL_KEYS.get(index).copied().unwrap_or_default();
    let is_build_id = canonical == starform_labels::keys::BUILD_ID;
    out.comment(&format!(
        "Rule 4: {canonical}, then the legacy keys aliased to it in byte order,"
    ));
    out.comment("in labels, then in pod_labels; a value unlike the first one found is a conflict.");
    out.line(&format!("{name} = {UNSET}"));
    let candidates = SOURCES.iter().flat_map(|source| {
        compiled
            .candidates(index)
            .iter()
            .map(move |key| (source, key))
    });
    for (source, key) in candidates {
        let path = format!("{source}{}", literal::field(key));
        let invalid = abort(Reason::InvalidValue, Some(key));
        out.open(&format!("if exists({path})"));
        out.line(&format!("value = {path}"));
        out.open("if !is_string(value)");
        out.line(&invalid);
        out.close();
        // `string` cannot fail after `is_string`, but VRL's type checker
        // does not narrow, and `??` keeps the program free of `!`.
        out.line("value = strip_whitespace(string(value) ?? \"\")");
        if is_build_id {
            out.open(&format!("if value == {UNSET}"));
            out.line(&invalid);
            out.close();
        } else {
            out.open(&format!(
                "if length(value) > {} || !match(value, r'{LABEL_PATTERN}')",
                starform_labels::MAX_LABEL_LEN
            ));
            out.line(&invalid);
            out.close();
            out.line("value = downcase(value)");
            if canonical == starform_labels::keys::ENVIRONMENT {
                environment_aliases(out, config);
            }
        }
        out.open(&format!("if {name} == {UNSET}"));
        out.line(&format!("{name} = value"));
        out.close_open(&format!("else if {name} != value"));
        out.line(&abort(Reason::Conflict, Some(key)));
        out.close();
        out.close();
    }
    if !is_build_id {
        out.open(&format!("if {name} == {UNSET}"));
        out.line(&abort(Reason::MissingLabel, Some(canonical)));
        out.close();
    }
}

/// Maps `value` through `environment_aliases`, once (no chains).
fn environment_aliases(out: &mut Emitter, config: &TransformConfig) {
    let mut first = true;
    for (from, to) in &config.environment_aliases {
        let test = format!("value == {}", literal::string(from));
        if first {
            out.open(&format!("if {test}"));
            first = false;
        } else {
            out.close_open(&format!("else if {test}"));
        }
        out.line(&format!("value = {}", literal::string(to)));
    }
    if !first {
        out.close();
    }
}

/// `abort` with the message the dropped program lifts into
/// `.starform_quarantine`: the JSON of the object the module writes there.
/// Built with `encode_json` rather than written as a string literal, so the
/// program stays readable (no escaped braces).
fn abort(reason: Reason, key: Option<&str>) -> String {
    format!("abort encode_json({})", quarantine_object(reason, key))
}

/// The VRL object literal of the `starform_quarantine` value.
fn quarantine_object(reason: Reason, key: Option<&str>) -> String {
    let key = key.map_or_else(|| "null".to_owned(), literal::string);
    format!("{{\"reason\": \"{}\", \"key\": {key}}}", reason.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name!(`: a call that turns an error into a runtime failure.
    fn has_abort_on_error_call(program: &str) -> bool {
        program
            .as_bytes()
            .windows(3)
            .any(|w| (w[0].is_ascii_alphanumeric() || w[0] == b'_') && w[1] == b'!' && w[2] == b'(')
    }

    fn config(json: &str) -> TransformConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn default_program_has_every_rule() {
        let program = generate(&TransformConfig::default()).unwrap();
        assert!(
            program.contains("if length(encode_json(measured)) > 1048576 {"),
            "{program}"
        );
        for key in CANONICAL_KEYS {
            // Both sources, kubernetes.labels first.
            let labels = program.find(&format!("if exists(labels.\"{key}\")"));
            let pod_labels = program.find(&format!("if exists(pod_labels.\"{key}\")"));
            assert!(
                matches!((labels, pod_labels), (Some(a), Some(b)) if a < b),
                "{key}: {program}"
            );
        }
        assert!(program.contains(
            r#"abort encode_json({"reason": "missing_label", "key": "starform.io/project"})"#
        ));
        assert!(
            !program.contains("namespace !="),
            "no template, no namespace check"
        );
        assert!(
            !has_abort_on_error_call(&program),
            "no `f!(…)` calls: {program}"
        );
    }

    #[test]
    fn aliases_and_template_appear() {
        let program = generate(&config(
            r#"{"key_aliases": {"team": "starform.io/project"},
                "environment_aliases": {"prod": "production"},
                "namespace_template": "t-{project}-{environment}",
                "max_record_bytes": 10}"#,
        ))
        .unwrap();
        assert!(
            program.contains(r#"if exists(labels."team") {"#),
            "{program}"
        );
        assert!(program.contains(r#"if value == "prod" {"#), "{program}");
        assert!(
            program.contains(r#"if namespace != "t-" + project + "-" + environment {"#),
            "{program}"
        );
        assert!(program.contains("> 10 {"), "{program}");
    }

    #[test]
    fn invalid_configuration_names_the_field() {
        let e = generate(&config(r#"{"max_record_bytes": 0}"#)).unwrap_err();
        assert_eq!(e.field(), Some("max_record_bytes"));
    }

    #[test]
    fn dropped_program_lifts_the_abort_message() {
        let program = generate_dropped();
        assert!(program.contains("%vector.dropped.message"), "{program}");
        assert!(
            program.contains("starform_quarantine = object(quarantine)"),
            "{program}"
        );
        assert!(
            program.contains("shadowed.starform_shadowed = del(.starform_shadowed)"),
            "{program}"
        );
    }
}
