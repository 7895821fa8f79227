//! The VRL twin (src/vrl_program, run by Vector's `remap`) and the wasm
//! module give the same output for every record: the same accepted record,
//! or the same quarantined record with the same reason and key.
//!
//! Three engines per record: the native core (`apply`), the compiled module
//! under wasmtime (one instance per configuration), and the generated VRL in
//! the real VRL engine, run the way Vector runs a `remap` with
//! `drop_on_abort` + `reroute_dropped` and then the dropped-route program.
//! Inputs: every JSON-object line of the golden corpus, and seeded generated
//! records (see support/vrl/records.rs) under the default configuration and
//! several others. A difference fails with the smallest record that shows it.
//!
//! Set STARFORM_VRL_SEED to explore other seeds.

use std::path::{Path, PathBuf};

use crate::support::vrl::records::Records;
use crate::support::vrl::{outcome, Engines, Namespace, Tally};
use serde_json::{json, Map, Value as Json};

const DEFAULT: &str = "{}";

const ALIASES: &str = r#"{
    "key_aliases": {
        "team": "starform.io/project",
        "app.kubernetes.io/part-of": "starform.io/project",
        "\u212Aey/x": "starform.io/project",
        "tier \"{{ .x }}\" \\": "starform.io/environment",
        "env": "starform.io/environment",
        "app": "starform.io/service",
        "app.kubernetes.io/name": "starform.io/service",
        "ci.example.com/build-id": "starform.io/build-id",
        "build": "starform.io/build-id"
    },
    "environment_aliases": {"prod": "production", "production": "live", "stg": "staging"}
}"#;

const TEMPLATE: &str = r#"{"namespace_template": "{project}-{environment}"}"#;

const TEMPLATE_ALIASES: &str = r#"{
    "key_aliases": {"team": "starform.io/project", "app": "starform.io/service", "env": "starform.io/environment"},
    "environment_aliases": {"prod": "production", "dev": "development"},
    "namespace_template": "t\"\\-{service}.{project}-{environment}",
    "max_record_bytes": 700
}"#;

const SMALL: &str = r#"{"max_record_bytes": 300}"#;

fn seed(base: u64) -> u64 {
    std::env::var("STARFORM_VRL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(base)
}

/// Every other record reaches VRL the way Vector's fluent source hands it
/// over (`%fluent.record`), the rest as the event itself.
fn namespace_for(i: usize) -> Namespace {
    if i % 2 == 0 {
        Namespace::Vector
    } else {
        Namespace::Event
    }
}

/// Hands `count` records generated for `config` from `seed` to
/// `check`, with their index, and returns what it tallied.
fn tally_generated(
    name: &str,
    config: &str,
    count: usize,
    seed: u64,
    mut check: impl FnMut(&mut Engines, usize, Map<String, Json>, &mut Tally),
) -> Tally {
    let mut engines = Engines::new(name, config);
    let mut records = Records::new(&engines.config, seed);
    let mut tally = Tally::new();
    for i in 0..count {
        check(&mut engines, i, records.next_record(), &mut tally);
    }
    tally
}

fn run_generated(name: &str, config: &str, count: usize, base_seed: u64) -> Tally {
    let seed = seed(base_seed);
    let tally = tally_generated(name, config, count, seed, |engines, i, record, tally| {
        let namespace = namespace_for(i);
        let outputs = engines.outputs_for(&record, namespace);
        if !outputs.agree() {
            panic!(
                "record {i} (seed {seed}) differs:\n{}",
                engines.explain(&record, namespace)
            );
        }
        let o = outcome(&outputs.native);
        if has_two_sources(&record) {
            *tally.entry(format!("{TWO_SOURCES}{o}")).or_default() += 1;
        }
        *tally.entry(o).or_default() += 1;
    });
    eprintln!("{name}: {count} generated records agree (seed {seed}): {tally:?}");
    tally
}

/// Tally prefix of the outcomes of records with both label maps (counted
/// under the plain outcome as well).
const TWO_SOURCES: &str = "two sources: ";

/// `kubernetes.labels` and `kubernetes.pod_labels` both objects: rule 4
/// reads both.
fn has_two_sources(record: &Map<String, Json>) -> bool {
    let k8s = record.get("kubernetes");
    ["labels", "pod_labels"]
        .iter()
        .all(|map| k8s.and_then(|k| k.get(*map)).is_some_and(Json::is_object))
}

/// The generator must reach every outcome the configuration allows, or the
/// agreement above says little.
fn assert_covers(tally: &Tally, outcomes: &[&str]) {
    for o in outcomes {
        assert!(
            tally.get(*o).copied().unwrap_or(0) > 0,
            "no record ended {o}: {tally:?}"
        );
    }
}

/// Outcomes every configuration reaches; `conflict` needs two candidates
/// for one label: an alias beside its canonical key, or two label maps.
const OUTCOMES: [&str; 5] = [
    "accepted",
    "missing_label",
    "invalid_value",
    "too_large",
    "conflict",
];

#[test]
fn generated_records_agree_default_config() {
    let tally = run_generated("default", DEFAULT, 100_000, 1);
    assert_covers(&tally, &OUTCOMES);
    // Without aliases only a second label map can disagree with the first.
    let conflicts = tally.get("conflict").copied().unwrap_or(0);
    assert_eq!(
        tally.get(&format!("{TWO_SOURCES}conflict")).copied(),
        Some(conflicts),
        "one candidate per label in one map cannot conflict: {tally:?}"
    );
    assert_covers(
        &tally,
        &[
            "two sources: accepted",
            "two sources: invalid_value",
            "two sources: missing_label",
        ],
    );
}

/// A test per configuration (so they run in parallel): `count` generated
/// records from `seed` agree, and reach [`OUTCOMES`] and those listed.
macro_rules! generated_records_agree {
    ($($test:ident: $name:literal, $config:ident, $count:literal records, seed $seed:literal,
        reaching [$($more:literal),*];)+) => {$(
        #[test]
        fn $test() {
            let tally = run_generated($name, $config, $count, $seed);
            assert_covers(&tally, &OUTCOMES);
            assert_covers(&tally, &[$($more),*]);
        }
    )+};
}

generated_records_agree! {
    generated_records_agree_with_aliases: "aliases", ALIASES, 100_000 records, seed 2,
        reaching ["two sources: conflict", "two sources: accepted"];
    generated_records_agree_with_namespace_template: "template", TEMPLATE, 50_000 records, seed 3,
        reaching ["namespace_mismatch", "two sources: namespace_mismatch", "two sources: accepted"];
    generated_records_agree_with_template_aliases_and_limit: "template+aliases+700B", TEMPLATE_ALIASES,
        50_000 records, seed 4, reaching ["namespace_mismatch", "two sources: conflict"];
    generated_records_agree_with_small_limit: "300B", SMALL, 50_000 records, seed 5, reaching [];
}

/// Each edit reintroduces a mistake a hand-written twin could make; the
/// comparison must catch it within a few thousand generated records and
/// shrink the record that shows it.
#[test]
fn comparison_catches_known_mistakes() {
    let label = "r'^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$'";
    let mistakes: [(&str, &str, &str, &str); 6] = [
        (
            "characters instead of bytes",
            SMALL,
            "length(encode_json(measured))",
            "strlen(encode_json(measured))",
        ),
        (
            "Unicode case folding",
            DEFAULT,
            label,
            "r'(?i)^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        ),
        (
            "no trimming",
            DEFAULT,
            "strip_whitespace(string(value) ?? \"\")",
            "string(value) ?? \"\"",
        ),
        (
            "aliases chained",
            ALIASES,
            "} else if value == \"production\" {",
            "}\n  if value == \"production\" {",
        ),
        (
            "size measured with the reserved fields",
            SMALL,
            "length(encode_json(measured))",
            "length(encode_json(.))",
        ),
        (
            "kubernetes.labels alone when both maps are objects",
            DEFAULT,
            "if is_object(.kubernetes.pod_labels) {",
            "if !is_object(.kubernetes.labels) {",
        ),
    ];
    for (name, config, from, to) in mistakes {
        let mut engines = Engines::with_edits(name, config, |rules, dropped| {
            assert!(
                rules.contains(from),
                "{name}: the program no longer contains {from:?}"
            );
            (rules.replacen(from, to, 1), dropped)
        });
        let mut records = Records::new(&engines.config, 7);
        let found = (0..20_000).find_map(|i| {
            let record = records.next_record();
            let namespace = namespace_for(i);
            (!engines.outputs_for(&record, namespace).agree())
                .then(|| engines.explain(&record, namespace))
        });
        let explanation = found.unwrap_or_else(|| panic!("{name}: no difference found"));
        let minimal = explanation
            .lines()
            .find(|l| l.starts_with("minimal input: "))
            .unwrap();
        assert!(minimal.len() < 2_000, "{name}: not shrunk: {explanation}");
        eprintln!("{name}:\n{explanation}");
    }
}

#[test]
fn dropped_program_must_shadow_again() {
    let mut engines =
        Engines::with_edits("dropped without shadowing", DEFAULT, |rules, dropped| {
            let cut = dropped.find("shadowed = {}").unwrap();
            let end = dropped
                .find(".starform_quarantine = starform_quarantine")
                .unwrap();
            (rules, format!("{}{}", &dropped[..cut], &dropped[end..]))
        });
    let record = json!({"project": "victim", "kubernetes": {}});
    let outputs = engines.outputs_for(record.as_object().unwrap(), Namespace::Vector);
    assert!(
        !outputs.agree(),
        "a dropped route without rule 2 went unnoticed: {outputs:?}"
    );
}

/// The node's output, as Vector receives it, through the aggregator's
/// programs: must come back as it went in (and through the module again,
/// byte for byte). Returns the first pass's outcome.
fn assert_second_pass_is_a_no_op(
    engines: &mut Engines,
    input: &[u8],
    namespace: Namespace,
    context: &str,
) -> String {
    let pass = engines.second_pass(input, namespace);
    let first: Json = serde_json::from_slice(&pass.first).unwrap();
    let quarantined = first.get("starform_quarantine").is_some();
    let fail = |what: &str| -> ! {
        panic!(
            "{context}: {what} changed the first pass's output\ninput: {}\nfirst:  {}\nmodule: {}\nvrl:    {:?}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&pass.first),
            String::from_utf8_lossy(&pass.module_again),
            pass.vrl
        )
    };
    if pass.module_again != pass.first {
        fail("the module");
    }
    // Vector holds integers beyond i64 as strings (a documented input
    // divergence), so the comparison applies the same conversion.
    if pass.vrl.as_ref() != Ok(&(as_vector_sees_it(&first), quarantined)) {
        fail("VRL");
    }
    outcome(&first)
}

fn run_second_pass(name: &str, config: &str, count: usize, base_seed: u64) -> Tally {
    let seed = seed(base_seed);
    let tally = tally_generated(name, config, count, seed, |engines, i, record, tally| {
        let input = serde_json::to_vec(&record).unwrap();
        let context = format!("{name} record {i} (seed {seed})");
        let outcome = assert_second_pass_is_a_no_op(engines, &input, namespace_for(i), &context);
        *tally.entry(outcome).or_default() += 1;
    });
    eprintln!(
        "{name}: the second pass kept all {count} first-pass outputs (seed {seed}): {tally:?}"
    );
    tally
}

#[test]
fn second_pass_is_a_no_op_on_generated_records() {
    let mut total = 0;
    for (name, config, count, base_seed) in [
        ("default", DEFAULT, 20_000, 11),
        ("aliases", ALIASES, 10_000, 12),
        ("template+aliases+700B", TEMPLATE_ALIASES, 10_000, 13),
        ("300B", SMALL, 10_000, 14),
    ] {
        let tally = run_second_pass(name, config, count, base_seed);
        assert_covers(&tally, &OUTCOMES);
        total += tally.values().sum::<u64>();
    }
    assert_eq!(total, 50_000);
}

/// The double-pass comparison must notice a twin that still shadows the
/// node's own fields (the rules program) or quarantine (the dropped one).
#[test]
fn second_pass_catches_a_twin_that_shadows_equal_fields() {
    let mut engines = Engines::with_edits("always shadow", DEFAULT, |rules, dropped| {
        let from = "if value != project {";
        assert!(rules.contains(from));
        let from_q = "if value != starform_quarantine {";
        assert!(dropped.contains(from_q));
        (
            rules.replacen(from, "if true {", 1),
            dropped.replacen(from_q, "if true {", 1),
        )
    });
    for record in [
        fluent_bit(starform_labels("acme", "prod", "web")),
        fluent_bit(json!({})),
    ] {
        let input = serde_json::to_vec(&record).unwrap();
        let pass = engines.second_pass(&input, Namespace::Vector);
        let first: Json = serde_json::from_slice(&pass.first).unwrap();
        assert_eq!(pass.module_again, pass.first);
        let (vrl, _) = pass.vrl.unwrap();
        assert_ne!(vrl, first, "the edited twin went unnoticed");
        assert!(vrl.get("starform_shadowed").is_some());
    }
}

#[test]
fn second_pass_is_a_no_op_on_the_golden_corpus_and_malformed_input() {
    let mut engines = Engines::new("default", DEFAULT);
    let mut inputs: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"[1,2]".to_vec(),
        b"\xff\xfe".to_vec(),
        Vec::new(),
        br#"{"starform_raw":"x","starform_quarantine":{"reason":"malformed","key":null}}"#.to_vec(),
    ];
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.ndjson").is_file() && !p.join("config.json").is_file())
        .collect();
    cases.sort();
    for case in cases {
        let input = std::fs::read(case.join("input.ndjson")).unwrap();
        inputs.extend(input.split(|b| *b == b'\n').map(<[u8]>::to_vec));
    }
    let mut tally = Tally::new();
    for (i, input) in inputs.iter().enumerate() {
        let context = format!("line {i}");
        let outcome =
            assert_second_pass_is_a_no_op(&mut engines, input, namespace_for(i), &context);
        *tally.entry(outcome).or_default() += 1;
    }
    eprintln!(
        "golden (default configuration) + malformed: {} lines: {tally:?}",
        inputs.len()
    );
    assert!(
        tally.get("malformed").copied().unwrap_or(0) >= 5,
        "{tally:?}"
    );
    assert!(tally.get("accepted").copied().unwrap_or(0) > 0, "{tally:?}");
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

#[test]
fn golden_corpus_agrees() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("host-tests/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.ndjson").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases");
    let (mut compared, mut converted) = (0, 0);
    for case in cases {
        let config = std::fs::read_to_string(case.join("config.json"))
            .unwrap_or_else(|_| DEFAULT.to_owned());
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let mut engines = Engines::new(&name, &config);
        let input = std::fs::read(case.join("input.ndjson")).unwrap();
        for (n, line) in input.split(|b| *b == b'\n').enumerate() {
            // Only what can reach Vector as an event: a JSON object.
            let Ok(Json::Object(record)) = serde_json::from_slice::<Json>(line) else {
                continue;
            };
            // Integers beyond i64 reach VRL as strings (a documented input
            // divergence): VRL must then give the module's output with the
            // same conversion applied.
            let as_vector = as_vector_sees_it(&Json::Object(record.clone()));
            let exact = as_vector == Json::Object(record.clone());
            for namespace in [Namespace::Vector, Namespace::Event] {
                let outputs = engines.outputs(line, &record, namespace);
                let agree = if exact {
                    outputs.agree()
                } else {
                    outputs.native == outputs.wasm
                        && outputs.vrl.as_ref() == Ok(&as_vector_sees_it(&outputs.native))
                };
                if !agree {
                    panic!(
                        "{name} line {} differs:\n{}",
                        n + 1,
                        engines.explain(&record, namespace)
                    );
                }
                compared += 1;
                converted += usize::from(!exact);
            }
        }
    }
    eprintln!(
        "golden corpus: {compared} (record, namespace) pairs agree, {converted} of them after Vector's integer conversion"
    );
    assert!(compared > 0);
}

/// `json` with every integer beyond `i64` as a string, as Vector's decoders
/// hand it to VRL (crate::support::vrl::vector::from_json).
fn as_vector_sees_it(json: &Json) -> Json {
    match json {
        Json::Number(n) if n.is_u64() && n.as_i64().is_none() => Json::String(n.to_string()),
        Json::Array(a) => Json::Array(a.iter().map(as_vector_sees_it).collect()),
        Json::Object(o) => Json::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), as_vector_sees_it(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Runs one hand-made record in both namespaces; returns the shared output.
fn agreed(config: &str, record: Json) -> Json {
    let mut engines = Engines::new("case", config);
    let record = record.as_object().unwrap().clone();
    let mut first = None;
    for namespace in [Namespace::Vector, Namespace::Event] {
        let outputs = engines.outputs_for(&record, namespace);
        assert!(outputs.agree(), "{}", engines.explain(&record, namespace));
        first.get_or_insert(outputs.native);
    }
    first.unwrap()
}

fn starform_labels(project: &str, environment: &str, service: &str) -> Json {
    json!({
        "starform.io/project": project,
        "starform.io/environment": environment,
        "starform.io/service": service
    })
}

fn fluent_bit(labels: Json) -> Json {
    json!({"log": "hi", "kubernetes": {"namespace_name": "acme-prod", "labels": labels}})
}

#[test]
fn kelvin_sign_is_not_k() {
    let out = agreed(
        DEFAULT,
        fluent_bit(starform_labels("\u{212A}ey", "prod", "web")),
    );
    assert_eq!(
        out["starform_quarantine"],
        json!({"reason": "invalid_value", "key": "starform.io/project"})
    );
}

#[test]
fn unicode_whitespace_is_trimmed_and_ascii_is_lowercased() {
    let out = agreed(
        DEFAULT,
        fluent_bit(starform_labels(
            "\u{a0}\u{3000}ACME\u{2028}",
            " Prod\t",
            "\u{85}web",
        )),
    );
    assert_eq!(
        (&out["project"], &out["environment"], &out["service"]),
        (&json!("acme"), &json!("prod"), &json!("web"))
    );
    assert_eq!(out["log_kind"], "runtime");
}

#[test]
fn size_limit_counts_bytes_not_characters() {
    // 20 'é' are 20 characters but 40 bytes: over a limit between the two.
    let record =
        json!({"log": "é".repeat(20), "kubernetes": {"labels": starform_labels("a", "b", "c")}});
    let bytes = serde_json::to_vec(&record).unwrap().len();
    let chars = String::from_utf8(serde_json::to_vec(&record).unwrap())
        .unwrap()
        .chars()
        .count();
    assert!(chars < bytes);
    let at_limit = agreed(
        &format!(r#"{{"max_record_bytes": {bytes}}}"#),
        record.clone(),
    );
    assert_eq!(at_limit["log_kind"], "runtime");
    let over = agreed(
        &format!(r#"{{"max_record_bytes": {}}}"#, bytes - 1),
        record.clone(),
    );
    assert_eq!(
        over["starform_quarantine"],
        json!({"reason": "too_large", "key": null})
    );
    let between = agreed(&format!(r#"{{"max_record_bytes": {chars}}}"#), record);
    assert_eq!(between["starform_quarantine"]["reason"], "too_large");
}

#[test]
fn spoofed_reserved_fields_are_shadowed_on_both_routes() {
    let spoof = |labels: Json| {
        let mut r = fluent_bit(labels);
        let m = r.as_object_mut().unwrap();
        m.insert("project".into(), json!("victim"));
        m.insert("starform_quarantine".into(), json!(null));
        m.insert("starform_shadowed".into(), json!({"old": 1}));
        r
    };
    let good = starform_labels("acme", "prod", "web");
    let accepted = agreed(DEFAULT, spoof(good));
    assert_eq!(accepted["project"], "acme");
    assert_eq!(
        accepted["starform_shadowed"],
        json!({"project": "victim", "starform_quarantine": null, "starform_shadowed": {"old": 1}})
    );
    let quarantined = agreed(DEFAULT, spoof(json!({})));
    assert_eq!(
        quarantined["starform_quarantine"],
        json!({"reason": "missing_label", "key": "starform.io/project"})
    );
    assert_eq!(quarantined["starform_shadowed"]["project"], "victim");
}

#[test]
fn alias_keys_needing_escapes_work() {
    let out = agreed(
        ALIASES,
        fluent_bit(json!({
            "team": "acme",
            "tier \"{{ .x }}\" \\": "PROD",
            "app": "web",
            "build": " 42 "
        })),
    );
    assert_eq!(
        (&out["project"], &out["environment"], &out["log_kind"]),
        (&json!("acme"), &json!("production"), &json!("build"))
    );
    let out = agreed(
        ALIASES,
        fluent_bit(json!({"team": "acme", "\u{212A}ey/x": "other", "env": "prod", "app": "web"})),
    );
    assert_eq!(
        out["starform_quarantine"],
        json!({"reason": "conflict", "key": "\u{212A}ey/x"})
    );
}

#[test]
fn empty_record_is_missing_its_labels() {
    let out = agreed(DEFAULT, json!({}));
    assert_eq!(
        out,
        json!({"starform_quarantine": {"reason": "missing_label", "key": "starform.io/project"}})
    );
}

/// Keeps the generated records honest about their own helper.
#[test]
fn generator_is_deterministic() {
    let config = serde_json::from_str(ALIASES).unwrap();
    let a: Vec<Map<String, Json>> = {
        let mut r = Records::new(&config, 9);
        (0..50).map(|_| r.next_record()).collect()
    };
    let mut r = Records::new(&config, 9);
    let b: Vec<Map<String, Json>> = (0..50).map(|_| r.next_record()).collect();
    assert_eq!(a, b);
}

/// Documented divergences (deploy/vector/README.md): inputs Vector hands VRL
/// differently from what the module sees. These pin that they stay known.
#[test]
fn known_divergence_nesting_deeper_than_the_json_limit() {
    let mut deep = json!("leaf");
    for _ in 0..127 {
        deep = json!([deep]);
    }
    let record = json!({"nested": deep, "kubernetes": {}});
    let mut engines = Engines::new("deep", DEFAULT);
    let outputs = engines.outputs_for(record.as_object().unwrap(), Namespace::Vector);
    assert_eq!(outputs.native, outputs.wasm);
    assert_eq!(crate::support::vrl::outcome(&outputs.native), "malformed");
    let vrl = outputs.vrl.unwrap();
    assert_eq!(
        crate::support::vrl::outcome(&vrl),
        "missing_label",
        "VRL applies the label rules"
    );
}

#[test]
fn known_divergence_integers_beyond_i64() {
    let record = json!({"n": u64::MAX, "kubernetes": {"labels": starform_labels("a", "b", "c")}});
    let mut engines = Engines::new("u64", DEFAULT);
    let outputs = engines.outputs_for(record.as_object().unwrap(), Namespace::Vector);
    assert_eq!(outputs.native, outputs.wasm);
    assert_eq!(outputs.native["n"], json!(u64::MAX));
    assert_eq!(
        outputs.vrl.unwrap()["n"],
        json!(u64::MAX.to_string()),
        "Vector's decoders make it a string"
    );
}

/// Rule 4 over two label maps, hand-made: `labels` is visited before
/// `pod_labels` whatever the record's order, a disagreement is named by the
/// later candidate, and the namespace beside `labels` is the one checked.
#[test]
fn two_label_maps_are_both_sources() {
    let full = starform_labels("acme", "prod", "web");
    let conflict = |key: &str| json!({"reason": "conflict", "key": key});

    // pod_labels first in the record, an alias in labels against the
    // canonical key in pod_labels: the canonical key is the later candidate.
    let out = agreed(
        ALIASES,
        json!({"kubernetes": {
            "pod_labels": {"starform.io/project": "globex"},
            "labels": {"team": "acme", "starform.io/environment": "prod", "starform.io/service": "web"}
        }}),
    );
    assert_eq!(out["starform_quarantine"], conflict("starform.io/project"));

    // The other way round: the alias in pod_labels is the later candidate.
    let out = agreed(
        ALIASES,
        json!({"kubernetes": {"labels": full.clone(), "pod_labels": {"team": "globex"}}}),
    );
    assert_eq!(out["starform_quarantine"], conflict("team"));

    // Equal after normalisation, and keys only one map has: accepted.
    let out = agreed(
        DEFAULT,
        json!({"kubernetes": {
            "labels": {"starform.io/project": " ACME", "starform.io/service": "web"},
            "pod_labels": {"starform.io/project": "acme", "starform.io/environment": "prod"}
        }}),
    );
    assert_eq!(
        (&out["project"], &out["environment"], &out["service"]),
        (&json!("acme"), &json!("prod"), &json!("web"))
    );

    // The namespace beside labels decides, even where pod_namespace matches.
    let out = agreed(
        TEMPLATE,
        json!({"kubernetes": {
            "pod_namespace": "acme-prod", "pod_labels": full.clone(),
            "namespace_name": "other", "labels": full.clone()
        }}),
    );
    assert_eq!(
        out["starform_quarantine"],
        json!({"reason": "namespace_mismatch", "key": "kubernetes.namespace_name"})
    );
    // Without labels, pod_namespace is the one.
    let out = agreed(
        TEMPLATE,
        json!({"kubernetes": {"pod_namespace": "acme-prod", "namespace_name": "other", "pod_labels": full}}),
    );
    assert_eq!(out["project"], "acme");
}
