//! Envoy on an edited copy of the shipped bootstrap: other routes, one more
//! HTTP filter, upstream clusters. Everything else — the tag regexes, the latency buckets, the
//! filter and its failure policy — stays as shipped, so a test that needs
//! many tenants or slow routes (the metrics-pipe test) still runs the
//! shipped setup.

use std::fs;

use super::{adapt_bootstrap, io, Envoy, EnvoyError, Launch};

impl Envoy {
    /// As [`Envoy::start`], with `edit` applied to the adapted bootstrap
    /// (free ports, module path, flush interval and plugin configuration
    /// already set) before Envoy reads it.
    pub fn start_edited(
        launch: &Launch,
        edit: impl FnOnce(String) -> Result<String, EnvoyError>,
    ) -> Result<Self, EnvoyError> {
        let module = launch.work_dir.join(crate::modules::ENVOY_FILTER_FILE);
        fs::write(&module, crate::modules::ENVOY_FILTER)
            .map_err(io(format!("writing {}", module.display())))?;
        Self::start_bootstrap(launch, |admin, listener| {
            edit(adapt_bootstrap(launch, &module, admin, listener)?)
        })
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `entry` (a YAML mapping written at column 0) as an item of a block
/// sequence indented by `indent`.
fn list_item(entry: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    entry
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mark = if i == 0 { "- " } else { "  " };
            format!("{pad}{mark}{line}\n")
        })
        .collect()
}

/// The index of the one line whose trimmed text is `wanted`.
fn unique_line(lines: &[&str], wanted: &str) -> Result<usize, EnvoyError> {
    let found: Vec<usize> = (0..lines.len())
        .filter(|&i| lines.get(i).is_some_and(|l| l.trim() == wanted))
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(EnvoyError::BootstrapShape(wanted.to_owned())),
    }
}

/// Replaces the virtual host's route list (and the comments inside it) with
/// `routes`, each a YAML mapping written at column 0.
pub fn replace_routes(yaml: &str, routes: &[String]) -> Result<String, EnvoyError> {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = unique_line(&lines, "routes:")?;
    let indent = lines.get(start).map_or(0, |l| indent_of(l));
    // The list ends at the first line that is neither deeper than `routes:`
    // nor one of its items or comments at the same depth.
    let end = (start + 1..lines.len())
        .find(|&i| {
            lines.get(i).is_some_and(|l| {
                let t = l.trim_start();
                !t.is_empty()
                    && (indent_of(l) < indent
                        || (indent_of(l) == indent && !t.starts_with('-') && !t.starts_with('#')))
            })
        })
        .unwrap_or(lines.len());
    let mut out = String::new();
    for line in lines.get(..=start).unwrap_or_default() {
        out.push_str(line);
        out.push('\n');
    }
    for route in routes {
        out.push_str(&list_item(route, indent));
    }
    for line in lines.get(end..).unwrap_or_default() {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// Inserts `filter` (a YAML mapping written at column 0) into the HTTP
/// filter chain just before the router, i.e. after the Starform filter.
pub fn insert_http_filter_before_router(yaml: &str, filter: &str) -> Result<String, EnvoyError> {
    let lines: Vec<&str> = yaml.lines().collect();
    let router = unique_line(&lines, "- name: envoy.filters.http.router")?;
    let indent = lines.get(router).map_or(0, |l| indent_of(l));
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == router {
            out.push_str(&list_item(filter, indent));
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// Adds `clusters` (YAML mappings written at column 0) to
/// `static_resources`, which the shipped bootstrap has none of.
pub fn add_clusters(yaml: &str, clusters: &[String]) -> Result<String, EnvoyError> {
    let lines: Vec<&str> = yaml.lines().collect();
    let at = unique_line(&lines, "static_resources:")?;
    if lines.iter().any(|l| l.trim() == "clusters:") {
        return Err(EnvoyError::BootstrapShape("clusters:".to_owned()));
    }
    let indent = lines.get(at).map_or(0, |l| indent_of(l)) + 2;
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i == at {
            out.push_str(&format!("{}clusters:\n", " ".repeat(indent)));
            for cluster in clusters {
                out.push_str(&list_item(cluster, indent));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::SHIPPED_BOOTSTRAP;

    #[test]
    fn routes_are_replaced_and_the_rest_kept() {
        let routes = [
            "name: a\nmatch: { path: /a }\ndirect_response: { status: 200 }".to_owned(),
            "name: b\nmatch: { path: /b }".to_owned(),
        ];
        let out = replace_routes(SHIPPED_BOOTSTRAP, &routes).unwrap();
        assert!(!out.contains("httproute/acme-prod"), "{out}");
        assert!(!out.contains("legacy-route"), "{out}");
        assert!(out.contains(
            "              routes:\n              - name: a\n                match: { path: /a }\n"
        ));
        assert!(out.contains("              - name: b\n                match: { path: /b }\n          http_filters:\n"));
        // Everything after the routes is still there.
        assert!(out.contains("starform_l7_identity"));
        assert!(out.contains("histogram_bucket_settings"));
    }

    #[test]
    fn a_filter_goes_just_before_the_router() {
        let out = insert_http_filter_before_router(
            SHIPPED_BOOTSTRAP,
            "name: envoy.filters.http.fault\ntyped_config: {}",
        )
        .unwrap();
        assert!(out.contains(
            "          - name: envoy.filters.http.fault\n            typed_config: {}\n          - name: envoy.filters.http.router\n"
        ));
        let wasm = out.find("envoy.filters.http.wasm").unwrap();
        let fault = out.find("envoy.filters.http.fault").unwrap();
        assert!(wasm < fault);
    }

    #[test]
    fn clusters_go_under_static_resources() {
        let out = add_clusters(SHIPPED_BOOTSTRAP, &["name: up\ntype: STATIC".to_owned()]).unwrap();
        assert!(out.contains(
            "static_resources:\n  clusters:\n  - name: up\n    type: STATIC\n  listeners:\n"
        ));
        assert!(matches!(
            add_clusters(&out, &[]),
            Err(EnvoyError::BootstrapShape(_))
        ));
    }

    #[test]
    fn a_missing_anchor_is_an_error() {
        assert!(matches!(
            replace_routes("admin: {}\n", &[]),
            Err(EnvoyError::BootstrapShape(_))
        ));
        assert!(matches!(
            insert_http_filter_before_router("admin: {}\n", "name: x"),
            Err(EnvoyError::BootstrapShape(_))
        ));
    }
}
