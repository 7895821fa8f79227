//! The label-set rules shared by both Starform plugins.
//!
//! Pure: no proxy-wasm, no wasmtime, no I/O. Both the Envoy filter (route
//! names) and the log transform (pod labels) parse untrusted strings into the
//! types here, so an identity that exists as a value is always valid.
//! Both read their JSON configuration through [`config_json`], so the two
//! follow one rule set.

pub mod config_json;
mod dns;
mod identity;

pub use dns::{is_dns_label, DnsLabel, InvalidLabel, MAX_LABEL_LEN};
pub use identity::Identity;

/// Canonical pod-label keys, written only by the platform (Shuttle).
pub mod keys {
    /// The tenant key: the dashboard's server-side filter is `project = '<id>'`.
    pub const PROJECT: &str = "starform.io/project";
    pub const ENVIRONMENT: &str = "starform.io/environment";
    pub const SERVICE: &str = "starform.io/service";
    /// Optional; its presence makes a log record a build log.
    pub const BUILD_ID: &str = "starform.io/build-id";
}
