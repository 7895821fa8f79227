//! Route name → identity (docs/contracts.md §1). The route name is the only
//! input: it is written by the control plane, never by a client.

use regex_lite::Regex;
use starform_labels::{DnsLabel, Identity};

/// Why a request could not be attributed; the `reason` tag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unattributed {
    /// No route name: no route matched, the property is absent or empty.
    NoRoute,
    /// The route name is not UTF-8 or does not match `route_pattern`.
    PatternMismatch,
    /// The pattern matches but a captured value is not a DNS-1123 label.
    InvalidValue,
}

impl Unattributed {
    pub const ALL: [Unattributed; 3] = [
        Unattributed::NoRoute,
        Unattributed::PatternMismatch,
        Unattributed::InvalidValue,
    ];

    /// The `reason` tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Unattributed::NoRoute => "no_route",
            Unattributed::PatternMismatch => "pattern_mismatch",
            Unattributed::InvalidValue => "invalid_value",
        }
    }

    /// Position in [`Unattributed::ALL`].
    pub fn index(self) -> usize {
        match self {
            Unattributed::NoRoute => 0,
            Unattributed::PatternMismatch => 1,
            Unattributed::InvalidValue => 2,
        }
    }
}

/// Parses a route name with `pattern` (which has the groups `project`,
/// `environment`, `service`; [`crate::Config`] guarantees it). Values are
/// validated exactly, never normalised: a bad value is a control-plane bug to
/// surface, not to repair.
pub fn parse_route(pattern: &Regex, name: Option<&[u8]>) -> Result<Identity, Unattributed> {
    let name = match name {
        None | Some([]) => return Err(Unattributed::NoRoute),
        Some(bytes) => std::str::from_utf8(bytes).map_err(|_| Unattributed::PatternMismatch)?,
    };
    let caps = pattern
        .captures(name)
        .ok_or(Unattributed::PatternMismatch)?;
    // A group that did not take part in the match (e.g. `(?P<service>..)?`)
    // means the name is not of the expected shape.
    let value = |group: &str| {
        caps.name(group)
            .map(|m| m.as_str())
            .ok_or(Unattributed::PatternMismatch)
    };
    let (project, environment, service) =
        (value("project")?, value("environment")?, value("service")?);
    let label = |s: &str| DnsLabel::parse(s).map_err(|_| Unattributed::InvalidValue);
    Ok(Identity {
        project: label(project)?,
        environment: label(environment)?,
        service: label(service)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ROUTE_PATTERN;

    fn parse(name: &str) -> Result<(String, String, String), Unattributed> {
        let re = Regex::new(DEFAULT_ROUTE_PATTERN).unwrap();
        parse_route(&re, Some(name.as_bytes())).map(|id| {
            (
                id.project.into_string(),
                id.environment.into_string(),
                id.service.into_string(),
            )
        })
    }

    fn ok(p: &str, e: &str, s: &str) -> Result<(String, String, String), Unattributed> {
        Ok((p.into(), e.into(), s.into()))
    }

    #[test]
    fn valid_names() {
        assert_eq!(
            parse("httproute/acme-prod/acme.prod.api/rule/0/match/0/api_acme_example"),
            ok("acme", "prod", "api")
        );
        // `match/-1` (a rule without matches), multi-digit indices, empty host.
        assert_eq!(
            parse("httproute/ns/globex.pr-123.web-2/rule/12/match/-1/"),
            ok("globex", "pr-123", "web-2")
        );
        let long = "a".repeat(63);
        assert_eq!(
            parse(&format!(
                "httproute/ns/{long}.{long}.{long}/rule/0/match/0/h"
            )),
            ok(&long, &long, &long)
        );
    }

    /// Every route name Envoy Gateway (v1.9) generates for the HTTPRoute
    /// `acme.prod.api` in namespace `acme-prod`: `…/rule/<r>/match/<m>/<host>`
    /// with `<host>` the hostname with `.` → `_`, and the CORS preflight
    /// route it adds beside a CORS rule's method match.
    #[test]
    fn every_name_envoy_gateway_generates_for_an_httproute_is_attributed() {
        for (variant, name) in [
            (
                "a match, a hostname",
                "httproute/acme-prod/acme.prod.api/rule/0/match/0/api_acme_example_com",
            ),
            (
                "a rule without matches: match -1",
                "httproute/acme-prod/acme.prod.api/rule/1/match/-1/api_acme_example_com",
            ),
            (
                "no hostname on the route or listener: *",
                "httproute/acme-prod/acme.prod.api/rule/0/match/0/*",
            ),
            (
                "a wildcard hostname",
                "httproute/acme-prod/acme.prod.api/rule/0/match/0/*_example_com",
            ),
            (
                "several rules and matches",
                "httproute/acme-prod/acme.prod.api/rule/12/match/10/pr-7_acme_example_com",
            ),
            (
                "CORS preflight",
                "httproute/acme-prod/acme.prod.api/rule/0/match/0/cors-preflight/api_acme_example_com",
            ),
            (
                "CORS preflight, no hostname",
                "httproute/acme-prod/acme.prod.api/rule/3/match/2/cors-preflight/*",
            ),
            (
                "CORS preflight, a wildcard hostname",
                "httproute/acme-prod/acme.prod.api/rule/0/match/1/cors-preflight/*_example_com",
            ),
        ] {
            assert_eq!(parse(name), ok("acme", "prod", "api"), "{variant}: {name}");
        }
    }

    /// GRPCRoutes are not attributed: the control plane creates HTTPRoutes
    /// only, and a gRPC failure is an HTTP 200 (docs/contracts.md §1).
    #[test]
    fn grpcroute_names_are_not_attributed() {
        for name in [
            "grpcroute/acme-prod/acme.prod.api/rule/0/match/0/api_acme_example_com",
            "grpcroute/acme-prod/acme.prod.api/rule/0/match/-1/*",
        ] {
            assert_eq!(parse(name), Err(Unattributed::PatternMismatch), "{name}");
        }
    }

    #[test]
    fn misplaced_preflight_segments_are_mismatches() {
        for name in [
            "httproute/ns/acme.prod.api/rule/0/match/0/h/cors-preflight",
            "httproute/ns/acme.prod.api/rule/0/match/0/cors-preflight/cors-preflight/h",
            "httproute/ns/acme.prod.api/rule/0/cors-preflight/match/0/h",
            "httproute/ns/acme.prod.api/rule/0/match/0/preflight/h",
        ] {
            assert_eq!(parse(name), Err(Unattributed::PatternMismatch), "{name}");
        }
    }

    #[test]
    fn no_route() {
        let re = Regex::new(DEFAULT_ROUTE_PATTERN).unwrap();
        assert_eq!(parse_route(&re, None), Err(Unattributed::NoRoute));
        assert_eq!(parse_route(&re, Some(b"")), Err(Unattributed::NoRoute));
    }

    #[test]
    fn non_utf8_is_a_mismatch() {
        let re = Regex::new(DEFAULT_ROUTE_PATTERN).unwrap();
        let name = b"httproute/ns/acme.prod.\xffapi/rule/0/match/0/h";
        assert_eq!(
            parse_route(&re, Some(name)),
            Err(Unattributed::PatternMismatch)
        );
    }

    #[test]
    fn wrong_shapes_are_mismatches() {
        for name in [
            "legacy-route",
            "httproute/ns/acme.prod/rule/0/match/0/h", // two parts
            "httproute/ns/acme.prod.api.x/rule/0/match/0/h", // four parts
            "httproute/ns/acme..api/rule/0/match/0/h", // empty part
            "grpcroute/ns/acme.prod.api/rule/0/match/0/h", // other kind
            "httproute/ns/acme.prod.api/rule/x/match/0/h", // bad index
            "httproute/ns/acme.prod.api/rule/0/match/0/h/extra", // trailing
            " httproute/ns/acme.prod.api/rule/0/match/0/h", // leading space
        ] {
            assert_eq!(parse(name), Err(Unattributed::PatternMismatch), "{name}");
        }
    }

    #[test]
    fn each_invalid_value_class() {
        let long = "a".repeat(64);
        for (p, e, s) in [
            ("Acme", "prod", "api"),        // uppercase
            ("acme", "prod", "my_svc"),     // underscore
            ("acme", long.as_str(), "api"), // too long
            ("-acme", "prod", "api"),       // leading hyphen
            ("acme", "prod-", "api"),       // trailing hyphen
            ("acme", "prod", "café"),       // non-ASCII
            ("ac me", "prod", "api"),       // space
        ] {
            let name = format!("httproute/ns/{p}.{e}.{s}/rule/0/match/0/h");
            assert_eq!(parse(&name), Err(Unattributed::InvalidValue), "{name}");
        }
    }

    #[test]
    fn optional_group_not_taking_part_is_a_mismatch() {
        let re = Regex::new("^(?P<project>[a-z]+)/(?P<environment>[a-z]+)(/(?P<service>[a-z]+))?$")
            .unwrap();
        assert_eq!(
            parse_route(&re, Some(b"acme/prod")),
            Err(Unattributed::PatternMismatch)
        );
        assert!(parse_route(&re, Some(b"acme/prod/api")).is_ok());
    }

    #[test]
    fn reason_names_and_indices() {
        let names: Vec<_> = Unattributed::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["no_route", "pattern_mismatch", "invalid_value"]);
        for (i, r) in Unattributed::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
