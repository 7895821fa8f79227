//! Route names through the Envoy filter's core, and the one-line JSON that
//! `starform-wasm route` prints per name.

use serde_json::Value;
use starform_envoy_filter::names::RETENTION_TAG;
use starform_envoy_filter::{Config, ConfigError, Outcome, Recorder};

/// What the filter counted one request on a route as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// Counted in the label set's series (`environment` after the preview
    /// policy, e.g. the aggregate value).
    Attributed {
        project: String,
        environment: String,
        service: String,
        /// The series' retention mark (`short` for a preview under
        /// `preview_policy: "short_retention"`), `None` when unmarked.
        retention: Option<String>,
    },
    /// Counted as unattributed with this reason (`None`: the counter carried
    /// no reason tag, shown as `null`).
    Unattributed(Option<String>),
    /// A preview under the `suppress` policy.
    SuppressedPreview,
    /// A new label set beyond `max_label_sets`.
    Overflow,
}

/// The line for `route` (without a newline): a JSON object whose keys are
/// in a fixed order, `route` first.
pub fn line(route: &str, outcome: &RouteOutcome) -> String {
    let mut fields: Vec<(&str, Value)> = vec![("route", Value::from(route))];
    match outcome {
        RouteOutcome::Attributed {
            project,
            environment,
            service,
            retention,
        } => {
            fields.push(("project", Value::from(project.as_str())));
            fields.push(("environment", Value::from(environment.as_str())));
            fields.push(("service", Value::from(service.as_str())));
            if let Some(retention) = retention {
                fields.push((RETENTION_TAG, Value::from(retention.as_str())));
            }
        }
        RouteOutcome::Unattributed(reason) => fields.push((
            "unattributed",
            reason.as_deref().map_or(Value::Null, Value::from),
        )),
        RouteOutcome::SuppressedPreview => fields.push(("suppressed", Value::from("preview"))),
        RouteOutcome::Overflow => fields.push(("overflow", Value::Bool(true))),
    }
    json_object(&fields)
}

/// A JSON object with keys in the given order (serde_json's map order
/// depends on a feature other crates switch on).
fn json_object(fields: &[(&str, Value)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// One filter VM: route names resolved in order, so label sets accumulate
/// and `max_label_sets` overflows as they would in one Envoy worker.
#[derive(Debug)]
pub struct Routes {
    recorder: Recorder,
}

impl Routes {
    /// A VM with this plugin configuration (empty: the defaults). The error
    /// names the field, as the filter's rejection does.
    pub fn new(config: &[u8]) -> Result<Self, ConfigError> {
        Ok(Routes {
            recorder: Recorder::new(&Config::parse(config)?),
        })
    }

    /// What a request on `route` counts as (the name shown with U+FFFD
    /// replacements when it is not UTF-8).
    pub fn outcome(&mut self, route: &[u8]) -> RouteOutcome {
        match self.recorder.outcome(Some(route)) {
            Outcome::Attributed(id) => match self.recorder.label_set(id) {
                Some(set) => RouteOutcome::Attributed {
                    project: set.identity.project.as_str().to_owned(),
                    environment: set.identity.environment.as_str().to_owned(),
                    service: set.identity.service.as_str().to_owned(),
                    retention: set.retention.tag().map(|(_, value)| value.to_owned()),
                },
                // The recorder handed out the id; it always has its set.
                None => RouteOutcome::Overflow,
            },
            Outcome::Unattributed(reason) => {
                RouteOutcome::Unattributed(Some(reason.as_str().to_owned()))
            }
            Outcome::SuppressedPreview => RouteOutcome::SuppressedPreview,
            Outcome::Overflow => RouteOutcome::Overflow,
        }
    }

    /// The line `starform-wasm route` prints for `route`.
    pub fn line(&mut self, route: &[u8]) -> String {
        let outcome = self.outcome(route);
        line(&String::from_utf8_lossy(route), &outcome)
    }
}

/// Route names one a line (a final newline ends the last name rather than
/// adding an empty one) through one VM: what `starform-wasm route` prints
/// for them as arguments, each line ending in a newline.
pub fn run(config: &[u8], names: &str) -> Result<String, ConfigError> {
    let mut routes = Routes::new(config)?;
    let mut out = String::new();
    if names.is_empty() {
        return Ok(out);
    }
    for name in names.strip_suffix('\n').unwrap_or(names).split('\n') {
        out.push_str(&routes.line(name.as_bytes()));
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_the_cli_key_order() {
        let out = run(
            b"",
            "httproute/default/acme.prod.web/rule/0/match/0/x\nlegacy\n\n",
        )
        .unwrap();
        assert_eq!(
            out,
            concat!(
                r#"{"route":"httproute/default/acme.prod.web/rule/0/match/0/x","project":"acme","environment":"prod","service":"web"}"#,
                "\n",
                r#"{"route":"legacy","unattributed":"pattern_mismatch"}"#,
                "\n",
                r#"{"route":"","unattributed":"no_route"}"#,
                "\n"
            )
        );
    }

    #[test]
    fn overflow_and_suppress_follow_the_configuration() {
        let name = |e: &str| format!("httproute/ns/acme.{e}.web/rule/0/match/0/h");
        let out = run(
            br#"{"max_label_sets":1,"preview_policy":"suppress"}"#,
            &[name("prod"), name("pr-1"), name("staging")].join("\n"),
        )
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].ends_with(r#""suppressed":"preview"}"#), "{out}");
        assert!(lines[2].ends_with(r#""overflow":true}"#), "{out}");
    }

    #[test]
    fn a_bad_configuration_names_the_field() {
        let err = run(br#"{"max_label_sets":0}"#, "x").unwrap_err();
        assert_eq!(err.field(), Some("max_label_sets"));
    }
}
