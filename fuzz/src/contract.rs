//! The route-name contract (docs/contracts.md §1) and DNS-1123 labels,
//! spelled out by hand.

/// What a route name must be counted as before any limit applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteVerdict {
    /// The `reason` tag value: `no_route`, `pattern_mismatch`, `invalid_value`.
    Unattributed(&'static str),
    /// (project, environment, service) exactly as written in the name.
    Identity([String; 3]),
}

/// The default `route_pattern`, without a regex:
/// `httproute/<ns>/<project>.<environment>.<service>/rule/<n>/match/<-?n>/<host>`,
/// or the same with `/cors-preflight` before `/<host>`, where `<ns>` is
/// non-empty, no part contains `/`, the three identity parts are non-empty
/// and contain no `.`, and `<host>` may be empty. `grpcroute/…` is not
/// attributed.
pub fn route_verdict(name: Option<&[u8]>) -> RouteVerdict {
    let bytes = match name {
        None | Some([]) => return RouteVerdict::Unattributed("no_route"),
        Some(bytes) => bytes,
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return RouteVerdict::Unattributed("pattern_mismatch");
    };
    let Some(parts) = identity_parts(text) else {
        return RouteVerdict::Unattributed("pattern_mismatch");
    };
    if parts.iter().all(|p| is_label(p)) {
        RouteVerdict::Identity(parts.map(str::to_owned))
    } else {
        RouteVerdict::Unattributed("invalid_value")
    }
}

fn identity_parts(text: &str) -> Option<[&str; 3]> {
    let rest = text.strip_prefix("httproute/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    // Envoy Gateway's CORS preflight route adds one segment before the host.
    let (namespace, identity, rule, matched) = match segments.as_slice() {
        [namespace, identity, "rule", rule, "match", matched, _host]
        | [namespace, identity, "rule", rule, "match", matched, "cors-preflight", _host] => {
            (namespace, identity, rule, matched)
        }
        _ => return None,
    };
    let unsigned = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let signed = |s: &str| unsigned(s.strip_prefix('-').unwrap_or(s));
    if namespace.is_empty() || !unsigned(rule) || !signed(matched) {
        return None;
    }
    let parts: Vec<&str> = identity.split('.').collect();
    let [p, e, s] = parts.as_slice() else {
        return None;
    };
    if p.is_empty() || e.is_empty() || s.is_empty() {
        return None;
    }
    Some([p, e, s])
}

/// DNS-1123 label: 1–63 of `[a-z0-9-]`, no `-` at either end.
pub fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

/// The default `preview_pattern` `^(pr|preview)-[a-z0-9-]+$` on an
/// environment that is already a label.
pub fn is_preview(environment: &str) -> bool {
    ["pr-", "preview-"].iter().any(|prefix| {
        environment.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
    })
}

/// `DnsLabel::normalize` as the contract states it: trim, ASCII-lowercase,
/// then a label or nothing.
pub fn normalized_label(raw: &str) -> Option<String> {
    let lowered = raw.trim().to_ascii_lowercase();
    is_label(&lowered).then_some(lowered)
}
