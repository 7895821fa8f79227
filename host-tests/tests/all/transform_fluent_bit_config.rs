//! deploy/fluent-bit/ against the module it loads: the function it calls
//! exists with Fluent Bit's signature, the configuration file it mounts is
//! valid and readable by the module, and quarantined records are routed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use starform_vector_transform::CompiledConfig;
use starform_wasm::log_host::{LogModule, LogTransform};
use wasmtime::{Engine, ExternType, Module, ValType};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/fluent-bit")
}

/// A classic-mode Fluent Bit file: `[SECTION]` headers, `Key value` lines
/// (keys case-insensitive, so lowercased here), `#` comments.
fn sections() -> Vec<(String, BTreeMap<String, Vec<String>>)> {
    let text = std::fs::read_to_string(deploy_dir().join("fluent-bit.conf")).unwrap();
    let mut sections: Vec<(String, BTreeMap<String, Vec<String>>)> = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.to_owned(), BTreeMap::new()));
            continue;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap();
        let section = &mut sections.last_mut().expect("a key before any section").1;
        section
            .entry(key.to_lowercase())
            .or_default()
            .push(value.trim().to_owned());
    }
    sections
}

fn one<'a>(section: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    let values = section.get(key).unwrap_or_else(|| panic!("missing {key}"));
    assert_eq!(values.len(), 1, "{key} set more than once");
    &values[0]
}

fn section(name: &str) -> BTreeMap<String, Vec<String>> {
    sections()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no [{name}] section"))
        .1
}

fn filters() -> Vec<BTreeMap<String, Vec<String>>> {
    sections()
        .into_iter()
        .filter(|(n, _)| n == "FILTER")
        .map(|(_, s)| s)
        .collect()
}

fn filter(name: &str) -> BTreeMap<String, Vec<String>> {
    filters()
        .into_iter()
        .find(|f| one(f, "name") == name)
        .unwrap_or_else(|| panic!("no {name} filter"))
}

#[test]
fn filters_run_in_order_on_container_logs() {
    let names: Vec<String> = filters()
        .iter()
        .map(|f| one(f, "name").to_owned())
        .collect();
    assert_eq!(names, ["kubernetes", "wasm", "rewrite_tag"]);
    let input = section("INPUT");
    assert_eq!(one(&input, "name"), "tail");
    assert_eq!(one(&input, "tag"), "kube.*");
    // A file created while Fluent Bit is down is read from its start (the
    // DB keeps the offsets of files it already knows).
    assert_eq!(one(&input, "read_from_head"), "On");
    assert!(!one(&input, "db").is_empty());
    for f in filters() {
        assert_eq!(one(&f, "match"), "kube.*");
    }
    let k8s = filter("kubernetes");
    assert_eq!(one(&k8s, "labels"), "On");
    // Merged JSON keys go under a key of their own, never to the top level.
    assert_eq!(one(&k8s, "merge_log"), "On");
    assert!(!one(&k8s, "merge_log_key").is_empty());
}

#[test]
fn the_wasm_filter_calls_an_export_with_fluent_bits_signature() {
    let wasm = filter("wasm");
    assert_eq!(one(&wasm, "event_format"), "json");
    let function = one(&wasm, "function_name");
    let module = Module::new(&Engine::default(), starform_wasm::modules::VECTOR_TRANSFORM).unwrap();
    let Some(ExternType::Func(ty)) = module.get_export(function) else {
        panic!("the module does not export {function}");
    };
    let params: Vec<ValType> = ty.params().collect();
    assert_eq!(params.len(), 6);
    assert!(params
        .iter()
        .chain(ty.results().collect::<Vec<_>>().iter())
        .all(|t| matches!(t, ValType::I32)));
    assert_eq!(ty.results().count(), 1);
    for export in ["malloc", "free"] {
        assert!(
            module.get_export(export).is_some(),
            "WAMR needs {export} to place input in module memory"
        );
    }
    assert!(one(&wasm, "wasm_path").ends_with("/starform_vector_transform.wasm"));
    assert!(one(&wasm, "wasm_stack_size").ends_with('M'));
}

#[test]
fn the_mounted_configuration_is_valid_and_reachable() {
    let wasm = filter("wasm");
    let accessible: Vec<&str> = one(&wasm, "accessible_paths")
        .split(',')
        .map(str::trim)
        .collect();
    assert!(accessible.contains(&"/etc/starform"), "{accessible:?}");
    let file = deploy_dir().join("log-transform.json");
    CompiledConfig::from_json(&std::fs::read(&file).unwrap()).unwrap();
    // The module finds it where the config mounts it: a namespace template
    // written into a copy takes effect.
    let scratch = crate::support::TempDir::new("fb-config").unwrap();
    let dir = scratch.path();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    config["namespace_template"] = "never-{project}".into();
    std::fs::write(dir.join("log-transform.json"), config.to_string()).unwrap();
    let module = LogModule::vector_transform().unwrap();
    let mut host = LogTransform::fluent_bit(module, &[dir]).unwrap();
    let record = br#"{"kubernetes":{"namespace_name":"x","labels":{"starform.io/project":"a","starform.io/environment":"b","starform.io/service":"c"}}}"#;
    let out: serde_json::Value = serde_json::from_slice(&host.transform(record).unwrap()).unwrap();
    assert_eq!(out["starform_quarantine"]["reason"], "namespace_mismatch");
}

#[test]
fn quarantined_records_are_retagged_and_both_tags_are_forwarded() {
    let rewrite = filter("rewrite_tag");
    let rule: Vec<&str> = one(&rewrite, "rule").split_whitespace().collect();
    assert_eq!(rule.len(), 4);
    assert_eq!(rule[0], "$starform_quarantine['reason']");
    assert_eq!(
        rule[3], "false",
        "the original must not also go out as accepted"
    );
    let new_tag = rule[2].replace("$TAG", "kube.var.log.containers.x");
    assert!(
        !new_tag.starts_with("kube."),
        "the re-emitted record must not pass the filters again"
    );
    let output = section("OUTPUT");
    assert_eq!(one(&output, "name"), "forward");
    assert_eq!(one(&output, "port"), "24224");
    let pattern = one(&output, "match_regex");
    // A tiny check of the two tags against the alternation, without a regex crate.
    let alternatives = pattern
        .trim_start_matches("^(")
        .split(")\\.")
        .next()
        .unwrap();
    for tag in ["kube.var.log.containers.x", new_tag.as_str()] {
        let matched = alternatives
            .split('|')
            .any(|alt| tag.starts_with(&format!("{}.", alt.replace("\\.", "."))));
        assert!(matched, "{tag} is not forwarded by {pattern}");
    }
}
