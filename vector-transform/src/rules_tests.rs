//! One test per rule of the rulebook, on the native core.

use serde_json::{json, Value};

use crate::{transform, CompiledConfig, Reason};

fn run(config: &CompiledConfig, input: &str) -> Value {
    serde_json::from_slice(&transform(config, input.as_bytes())).unwrap()
}

fn default_run(input: &str) -> Value {
    run(&CompiledConfig::default(), input)
}

fn quarantine(reason: Reason, key: Option<&str>) -> Value {
    json!({"reason": reason.code(), "key": key})
}

fn fluent_bit(labels: Value) -> Value {
    json!({"log": "hello", "kubernetes": {"namespace_name": "acme-prod", "labels": labels}})
}

fn good_labels() -> Value {
    json!({"starform.io/project": "acme", "starform.io/environment": "prod", "starform.io/service": "web"})
}

fn keys(out: &Value) -> Vec<&str> {
    out.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// What an accepted record's pass appends, in this order, after the
/// record's own fields (and any `starform_shadowed`).
const VERDICT_FIELDS: [&str; 4] = ["project", "environment", "service", "log_kind"];

fn accepted_keys(own: &[&'static str]) -> Vec<&'static str> {
    own.iter().chain(&VERDICT_FIELDS).copied().collect()
}

fn nested(depth: usize) -> String {
    // `depth` levels of nesting counting the record object itself.
    let mut s = String::from("{\"a\":");
    s.push_str(&"[".repeat(depth - 1));
    s.push_str(&"]".repeat(depth - 1));
    s.push('}');
    s
}

#[test]
fn rule1_not_json_is_kept_as_a_string() {
    for input in [
        "not json", "", "{\"a\":", "[1,2]", "\"text\"", "42", "null", "true",
    ] {
        let out = default_run(input);
        assert_eq!(
            out,
            json!({"starform_raw": input, "starform_quarantine": quarantine(Reason::Malformed, None)})
        );
    }
}

#[test]
fn rule1_not_utf8_is_kept_as_base64() {
    let out: Value = serde_json::from_slice(&transform(
        &CompiledConfig::default(),
        b"{\"log\":\"\xff\"}",
    ))
    .unwrap();
    assert_eq!(
        out,
        json!({"starform_raw_base64": "eyJsb2ciOiL/In0=", "starform_quarantine": quarantine(Reason::Malformed, None)})
    );
}

#[test]
fn rule1_nesting_limit_is_serde_jsons() {
    let ok = default_run(&nested(127));
    assert_eq!(ok["starform_quarantine"]["reason"], "missing_label");
    for depth in [128, 129, 400] {
        let out = default_run(&nested(depth));
        assert_eq!(
            out["starform_quarantine"]["reason"], "malformed",
            "depth {depth}"
        );
        assert_eq!(out["starform_raw"], nested(depth));
    }
}

#[test]
fn rule2_reserved_fields_are_shadowed_in_order() {
    let input = json!({
        "service": "evil", "log": "x", "project": "other-tenant", "starform_quarantine": null,
        "kubernetes": {"labels": good_labels()}, "starform_shadowed": {"k": 1}, "log_kind": "build", "environment": 3,
    })
    .to_string();
    let out = default_run(&input);
    assert_eq!(
        keys(&out),
        accepted_keys(&["log", "kubernetes", "starform_shadowed"])
    );
    assert_eq!(
        keys(&out["starform_shadowed"]),
        [
            "service",
            "project",
            "starform_quarantine",
            "starform_shadowed",
            "log_kind",
            "environment"
        ]
    );
    assert_eq!(out["starform_shadowed"]["project"], "other-tenant");
    assert_eq!(
        out["starform_shadowed"]["starform_shadowed"],
        json!({"k": 1})
    );
    assert_eq!(
        (&out["project"], &out["log_kind"]),
        (&json!("acme"), &json!("runtime"))
    );
}

#[test]
fn rule2_applies_to_quarantined_records_too() {
    let out = default_run(r#"{"project": "acme", "log": "x"}"#);
    assert_eq!(
        out,
        json!({"log": "x", "starform_shadowed": {"project": "acme"},
               "starform_quarantine": quarantine(Reason::MissingLabel, Some("starform.io/project"))})
    );
}

#[test]
fn rule3_size_uses_the_compact_encoding_as_received_without_reserved_fields() {
    let record = json!({"kubernetes": {"labels": good_labels()}, "project": "p", "log": "x"});
    let measured = json!({"kubernetes": {"labels": good_labels()}, "log": "x"}).to_string();
    let padded = serde_json::to_string_pretty(&record).unwrap();
    let exact = CompiledConfig::from_json(
        format!(r#"{{"max_record_bytes": {}}}"#, measured.len()).as_bytes(),
    )
    .unwrap();
    // Whitespace in the input does not count, nor do reserved fields.
    assert!(run(&exact, &padded).get("starform_quarantine").is_none());
    let smaller = CompiledConfig::from_json(
        format!(r#"{{"max_record_bytes": {}}}"#, measured.len() - 1).as_bytes(),
    )
    .unwrap();
    let out = run(&smaller, &padded);
    assert_eq!(
        out["starform_quarantine"],
        quarantine(Reason::TooLarge, None)
    );
    assert_eq!(out["starform_shadowed"], json!({"project": "p"}));
    assert_eq!(out["kubernetes"], record["kubernetes"]);
}

#[test]
fn rule3_measure_skips_only_top_level_reserved_fields() {
    let record: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "project": "p", "a": {"project": 1}, "starform_shadowed": {}, "b": "é", "log_kind": null
    }))
    .unwrap();
    let without = json!({"a": {"project": 1}, "b": "é"}).to_string();
    assert_eq!(crate::measured_len(&record), without.len() as u64);
    let reserved_only: serde_json::Map<String, Value> =
        serde_json::from_value(json!({"service": "s"})).unwrap();
    assert_eq!(crate::measured_len(&reserved_only), 2);
    assert_eq!(
        crate::measured_len(&serde_json::Map::new()),
        crate::compact_len(&serde_json::Map::new())
    );
}

#[test]
fn rule3_is_checked_before_labels() {
    let config = CompiledConfig::from_json(br#"{"max_record_bytes": 5}"#).unwrap();
    assert_eq!(
        run(&config, "{}")["starform_quarantine"]["reason"],
        "missing_label"
    );
    assert_eq!(
        run(&config, r#"{"a":1}"#)["starform_quarantine"]["reason"],
        "too_large"
    );
}

#[test]
fn rule4_shapes_select_the_label_map() {
    let fb = default_run(&fluent_bit(good_labels()).to_string());
    assert_eq!(fb["service"], "web");
    let vector =
        json!({"message": "m", "kubernetes": {"pod_namespace": "x", "pod_labels": good_labels()}});
    assert_eq!(default_run(&vector.to_string())["environment"], "prod");
    // Both maps are sources: a key only one of them has is not a disagreement.
    let both = json!({"kubernetes": {"labels": {}, "pod_labels": good_labels()}});
    assert_eq!(default_run(&both.to_string())["project"], "acme");
    // A key they disagree on is a conflict on that key.
    let disagree = json!({"kubernetes": {"labels": {"starform.io/project": "globex"}, "pod_labels": good_labels()}});
    let q = &default_run(&disagree.to_string())["starform_quarantine"];
    assert_eq!(
        (q["reason"].as_str(), q["key"].as_str()),
        (Some("conflict"), Some("starform.io/project"))
    );
    // A `labels` that is not an object falls through to `pod_labels`.
    let fallback = json!({"kubernetes": {"labels": "x", "pod_labels": good_labels()}});
    assert_eq!(default_run(&fallback.to_string())["project"], "acme");
    for no_labels in [
        json!({}),
        json!({"kubernetes": []}),
        json!({"kubernetes": {"labels": null}}),
    ] {
        assert_eq!(
            default_run(&no_labels.to_string())["starform_quarantine"],
            quarantine(Reason::MissingLabel, Some("starform.io/project"))
        );
    }
}

#[test]
fn rule4_normalises_and_validates() {
    let labels = json!({"starform.io/project": " ACME ", "starform.io/environment": "Prod\n", "starform.io/service": "Web"});
    let out = default_run(&fluent_bit(labels).to_string());
    assert_eq!(
        (&out["project"], &out["environment"], &out["service"]),
        (&json!("acme"), &json!("prod"), &json!("web"))
    );
    // The label map itself is never rewritten.
    assert_eq!(out["kubernetes"]["labels"]["starform.io/project"], " ACME ");
    let labels = json!({"starform.io/project": "acme", "starform.io/environment": "prod", "starform.io/service": "my_svc"});
    let out = default_run(&fluent_bit(labels).to_string());
    assert_eq!(
        out["starform_quarantine"],
        quarantine(Reason::InvalidValue, Some("starform.io/service"))
    );
    assert!(out.get("project").is_none());
}

#[test]
fn rule4_build_id_makes_a_build_log() {
    let mut labels = good_labels();
    labels["starform.io/build-id"] = json!("b-1");
    assert_eq!(
        default_run(&fluent_bit(labels.clone()).to_string())["log_kind"],
        "build"
    );
    labels["starform.io/build-id"] = json!(12);
    assert_eq!(
        default_run(&fluent_bit(labels).to_string())["starform_quarantine"],
        quarantine(Reason::InvalidValue, Some("starform.io/build-id"))
    );
}

#[test]
fn rule4_conflicts_between_aliases() {
    let config =
        CompiledConfig::from_json(br#"{"key_aliases": {"tenant": "starform.io/project"}}"#)
            .unwrap();
    let mut labels = good_labels();
    labels["tenant"] = json!("someone-else");
    assert_eq!(
        run(&config, &fluent_bit(labels).to_string())["starform_quarantine"],
        quarantine(Reason::Conflict, Some("tenant"))
    );
}

#[test]
fn rule5_namespace_must_match_the_template() {
    let config =
        CompiledConfig::from_json(br#"{"namespace_template": "{project}-{environment}"}"#).unwrap();
    assert!(run(&config, &fluent_bit(good_labels()).to_string())
        .get("starform_quarantine")
        .is_none());
    let wrong = json!({"kubernetes": {"namespace_name": "other-prod", "labels": good_labels()}});
    assert_eq!(
        run(&config, &wrong.to_string())["starform_quarantine"],
        quarantine(Reason::NamespaceMismatch, Some("kubernetes.namespace_name"))
    );
    let vector = json!({"kubernetes": {"pod_namespace": 5, "pod_labels": good_labels()}});
    assert_eq!(
        run(&config, &vector.to_string())["starform_quarantine"],
        quarantine(Reason::NamespaceMismatch, Some("kubernetes.pod_namespace"))
    );
    // Off by default: a mismatching namespace is accepted.
    assert!(default_run(&wrong.to_string())
        .get("starform_quarantine")
        .is_none());
}

#[test]
fn rule5_uses_final_values() {
    let config = CompiledConfig::from_json(
        br#"{"namespace_template": "{project}-{environment}", "environment_aliases": {"prod": "production"}}"#,
    )
    .unwrap();
    let record =
        json!({"kubernetes": {"namespace_name": "acme-production", "labels": good_labels()}});
    assert_eq!(
        run(&config, &record.to_string())["environment"],
        "production"
    );
}

#[test]
fn rule6_appends_identity_and_changes_nothing_else() {
    let input = r#"{"z":1,"log":"a\u0000b","kubernetes":{"labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"}},"a":[1.5,-2,{"x":null}]}"#;
    let out = transform(&CompiledConfig::default(), input.as_bytes());
    let expected = format!(
        "{},\"project\":\"acme\",\"environment\":\"prod\",\"service\":\"web\",\"log_kind\":\"runtime\"}}",
        input.strip_suffix('}').unwrap()
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn unconfigured_module_quarantines_every_object() {
    let mut out = Vec::new();
    let outcome =
        crate::transform_unconfigured_into(Some("key_aliases"), br#"{"project":"x"}"#, &mut out);
    assert_eq!(outcome, Some(Reason::ConfigInvalid));
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        value,
        json!({"starform_shadowed": {"project": "x"}, "starform_quarantine": quarantine(Reason::ConfigInvalid, Some("key_aliases"))})
    );
    out.clear();
    assert_eq!(
        crate::transform_unconfigured_into(None, b"nope", &mut out),
        Some(Reason::Malformed)
    );
}

#[test]
fn rule6_numbers_keep_their_exact_value() {
    // Without exact float parsing this value would come back one ULP off.
    let input = r#"{"f":-1.4429811653542354e299,"big":18446744073709551615,"neg":-9223372036854775808,"kubernetes":{"labels":{"starform.io/project":"a","starform.io/environment":"b","starform.io/service":"c"}}}"#;
    let out = default_run(input);
    assert_eq!(out["f"].as_f64(), Some(-1.4429811653542354e299));
    assert_eq!(out["big"].as_u64(), Some(u64::MAX));
    assert_eq!(out["neg"].as_i64(), Some(i64::MIN));
}

#[test]
fn rule2_fields_equal_to_the_verdict_are_rewritten_not_shadowed() {
    let mut input = fluent_bit(good_labels());
    let m = input.as_object_mut().unwrap();
    m.insert("service".into(), json!("web"));
    m.insert("project".into(), json!("acme"));
    m.insert("environment".into(), json!("prod"));
    m.insert("log_kind".into(), json!("runtime"));
    let out = default_run(&input.to_string());
    assert_eq!(keys(&out), accepted_keys(&["log", "kubernetes"]));
    assert_eq!(out["service"], "web");
}

#[test]
fn rule2_unequal_fields_are_still_shadowed() {
    let mut input = fluent_bit(good_labels());
    let m = input.as_object_mut().unwrap();
    m.insert("project".into(), json!("acme"));
    // Not what this pass writes: a number, another kind, and a quarantine on
    // an accepted record.
    m.insert("environment".into(), json!(1));
    m.insert("log_kind".into(), json!("build"));
    m.insert(
        "starform_quarantine".into(),
        quarantine(Reason::MissingLabel, None),
    );
    let out = default_run(&input.to_string());
    assert_eq!(
        out["starform_shadowed"],
        json!({"environment": 1, "log_kind": "build", "starform_quarantine": quarantine(Reason::MissingLabel, None)})
    );
    assert_eq!(
        keys(&out),
        accepted_keys(&["log", "kubernetes", "starform_shadowed"])
    );
}

#[test]
fn rule2_lone_starform_shadowed_stays_in_place() {
    let input = json!({"a": 1, "starform_shadowed": {"k": 1}, "kubernetes": {"labels": good_labels()}, "project": "acme"});
    let out = default_run(&input.to_string());
    assert_eq!(
        keys(&out),
        accepted_keys(&["a", "starform_shadowed", "kubernetes"])
    );
    assert_eq!(out["starform_shadowed"], json!({"k": 1}));
    // With something else to move, it moves too (nested).
    let input = json!({"a": 1, "starform_shadowed": {"k": 1}, "kubernetes": {"labels": good_labels()}, "project": "evil"});
    let out = default_run(&input.to_string());
    assert_eq!(
        out["starform_shadowed"],
        json!({"starform_shadowed": {"k": 1}, "project": "evil"})
    );
}

#[test]
fn rule2_equal_quarantine_is_rewritten_and_identity_on_quarantine_shadowed() {
    let missing = quarantine(Reason::MissingLabel, Some("starform.io/project"));
    // Key order inside the object does not matter: JSON-value equality.
    let input = r#"{"log":"x","starform_quarantine":{"key":"starform.io/project","reason":"missing_label"},"project":"acme"}"#;
    let out = default_run(input);
    assert_eq!(
        keys(&out),
        ["log", "starform_shadowed", "starform_quarantine"]
    );
    assert_eq!(out["starform_shadowed"], json!({"project": "acme"}));
    assert_eq!(out["starform_quarantine"], missing);
    let out =
        default_run(r#"{"log":"x","starform_quarantine":{"reason":"missing_label","key":null}}"#);
    assert_eq!(
        out["starform_shadowed"]["starform_quarantine"],
        quarantine(Reason::MissingLabel, None)
    );
}

#[test]
fn rule1_output_seen_again_stays_malformed() {
    for input in ["not json", "[1]", "{\"a\":"] {
        let first = transform(&CompiledConfig::default(), input.as_bytes());
        let second = transform(&CompiledConfig::default(), &first);
        assert_eq!(second, first, "{input}");
    }
    let first = transform(&CompiledConfig::default(), b"\xff");
    assert_eq!(transform(&CompiledConfig::default(), &first), first);
    // A third field, or a raw value that is not a string, is an ordinary record.
    let out = default_run(
        r#"{"starform_raw":"x","starform_quarantine":{"reason":"malformed","key":null},"b":1}"#,
    );
    assert_eq!(out["starform_quarantine"]["reason"], "missing_label");
    let out = default_run(
        r#"{"starform_raw":1,"starform_quarantine":{"reason":"malformed","key":null}}"#,
    );
    assert_eq!(out["starform_quarantine"]["reason"], "missing_label");
}

#[test]
fn second_pass_is_a_no_op() {
    let config = CompiledConfig::from_json(
        br#"{"max_record_bytes": 200, "namespace_template": "{project}-{environment}"}"#,
    )
    .unwrap();
    let build = json!({"starform.io/project": "acme", "starform.io/environment": "prod",
        "starform.io/service": "web", "starform.io/build-id": "42"});
    let inputs = [
        fluent_bit(good_labels()).to_string(),
        fluent_bit(build).to_string(),
        json!({"project": "evil", "starform_shadowed": 1, "log": "x",
            "kubernetes": {"namespace_name": "acme-prod", "labels": good_labels()}})
        .to_string(),
        json!({"project": "acme", "kubernetes": {"labels": {}}}).to_string(),
        json!({"log": "y".repeat(300), "project": "acme",
            "kubernetes": {"namespace_name": "acme-prod", "labels": good_labels()}})
        .to_string(),
        json!({"log": "x", "kubernetes": {"namespace_name": "other", "labels": good_labels()}})
            .to_string(),
        json!({"starform_quarantine": {"reason": "too_large", "key": null}, "log": "y".repeat(300)})
            .to_string(),
        "{}".to_owned(),
    ];
    for input in inputs {
        let first = transform(&config, input.as_bytes());
        let second = transform(&config, &first);
        assert_eq!(
            String::from_utf8(second).unwrap(),
            String::from_utf8(first).unwrap(),
            "{input}"
        );
    }
    for input in [&br#"{"project":"x","log":1}"#[..], b"nope"] {
        let (mut first, mut second) = (Vec::new(), Vec::new());
        crate::transform_unconfigured_into(Some("key_aliases"), input, &mut first);
        crate::transform_unconfigured_into(Some("key_aliases"), &first, &mut second);
        assert_eq!(second, first);
    }
}

/// The documented exception to idempotence (rule 2): moving a field nested
/// to the limit into `starform_shadowed` adds the level rule 1 rejects.
#[test]
fn second_pass_exception_nesting_limit() {
    // Record object, then `project`'s 126 nested arrays: 127 levels.
    let input = format!(
        "{{\"project\":{}{},\"kubernetes\":{{\"labels\":{}}}}}",
        "[".repeat(126),
        "]".repeat(126),
        good_labels()
    );
    let first = transform(&CompiledConfig::default(), input.as_bytes());
    // Accepted, but 128 levels deep now: too deep to parse here as well.
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(text.starts_with("{\"kubernetes\""), "{text}");
    let shadowed = format!("\"starform_shadowed\":{{\"project\":{}", "[".repeat(126));
    assert!(text.contains(&shadowed), "{text}");
    assert!(text.ends_with("\"log_kind\":\"runtime\"}"), "{text}");
    assert!(serde_json::from_slice::<Value>(&first).is_err());
    let second: Value =
        serde_json::from_slice(&transform(&CompiledConfig::default(), &first)).unwrap();
    assert_eq!(second["starform_quarantine"]["reason"], "malformed");
}

/// `transform` writes records without reserved fields straight out (one
/// serialisation, the verdict's fields spliced in); it must give exactly the
/// bytes of the general path, `apply` then serialise.
#[test]
fn written_output_is_the_applied_object_serialised() {
    let template = CompiledConfig::from_json(
        br#"{"namespace_template": "{project}-{environment}", "key_aliases": {"app": "starform.io/service"}}"#,
    )
    .unwrap();
    let inputs = [
        "{}".to_owned(),
        "not json".to_owned(),
        fluent_bit(good_labels()).to_string(),
        serde_json::to_string_pretty(&fluent_bit(good_labels())).unwrap(),
        fluent_bit(json!({"starform.io/project": " ACME ", "starform.io/environment": "prod", "starform.io/service": "web", "app": "api"})).to_string(),
        fluent_bit(json!({})).to_string(),
        r#"{"log":"\u00e9\/\"","n":1.50,"big":18446744073709551615,"kubernetes":{"labels":{"starform.io/project":"a","starform.io/environment":"b","starform.io/service":"c","starform.io/build-id":" 7 "}}}"#.to_owned(),
        json!({"project": "victim", "kubernetes": {"labels": good_labels()}}).to_string(),
        json!({"starform_raw": "x", "starform_quarantine": {"reason": "malformed", "key": null}}).to_string(),
    ];
    let record = fluent_bit(good_labels()).to_string();
    let at_limit = CompiledConfig::from_json(
        format!(r#"{{"max_record_bytes": {}}}"#, record.len()).as_bytes(),
    )
    .unwrap();
    let under_limit = CompiledConfig::from_json(
        format!(r#"{{"max_record_bytes": {}}}"#, record.len() - 1).as_bytes(),
    )
    .unwrap();
    for config in [
        &CompiledConfig::default(),
        &template,
        &at_limit,
        &under_limit,
    ] {
        for input in &inputs {
            let (object, outcome) = crate::apply(config, input.as_bytes());
            let mut out = b"previous".to_vec();
            let written = crate::transform_into(config, input.as_bytes(), &mut out);
            assert_eq!(written, outcome, "{input}");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("previous{}", serde_json::to_string(&object).unwrap()),
                "{input}"
            );
        }
    }
    let accepted = |c: &CompiledConfig| crate::apply(c, record.as_bytes()).1;
    assert_eq!(accepted(&at_limit), None);
    assert_eq!(accepted(&under_limit), Some(Reason::TooLarge));
}
