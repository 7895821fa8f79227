//! Helpers shared by the `filter_*` tests, which drive the compiled Envoy
//! filter (`modules::ENVOY_FILTER`) in the embedded proxy-wasm host.

use starform_wasm::proxy_wasm_host::{FilterHost, HostError, LogLevel, Request};

/// Envoy Gateway's xDS route name for the HTTPRoute `<p>.<e>.<s>`.
pub fn route(p: &str, e: &str, s: &str) -> String {
    format!("httproute/default/{p}.{e}.{s}/rule/0/match/0/www_example_com")
}

/// A filter VM with `config`, which must be accepted.
pub fn filter(config: &str) -> FilterHost {
    match FilterHost::envoy_filter(config.as_bytes()) {
        Ok(host) => host,
        Err(e) => panic!("config {config:?} rejected: {e}"),
    }
}

/// One 200 request to `route`.
pub fn hit(host: &mut FilterHost, route: &str) {
    host.request(&Request::to_route(route)).unwrap();
}

/// What a scrape sees after the filter's next tick: the filter holds its
/// counts in VM memory until then.
pub fn scrape(host: &mut FilterHost) -> String {
    host.tick().unwrap();
    host.prometheus_text()
}

/// The scraped exposition as lines, for exact comparison.
pub fn lines(host: &mut FilterHost) -> Vec<String> {
    scrape(host).lines().map(str::to_owned).collect()
}

/// The scraped lines that are samples (not `# TYPE`) of metric `name`.
pub fn samples(host: &mut FilterHost, name: &str) -> Vec<String> {
    scrape(host)
        .lines()
        .filter(|l| !l.starts_with('#') && l.split(['{', ' ']).next() == Some(name))
        .map(str::to_owned)
        .collect()
}

/// The configuration must be rejected without a trap; returns its log lines
/// at error level.
pub fn rejected(config: &[u8]) -> Vec<String> {
    let err = FilterHost::envoy_filter(config)
        .err()
        .unwrap_or_else(|| panic!("{config:?} accepted"));
    let HostError::ConfigurationRejected { logs } = &err else {
        panic!(
            "{:?}: expected a rejection, got {err}",
            String::from_utf8_lossy(config)
        )
    };
    logs.iter()
        .filter(|l| l.level == LogLevel::Error)
        .map(|l| l.message.clone())
        .collect()
}
