use crate::DnsLabel;

/// project · environment · service, each a validated DNS-1123 label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub project: DnsLabel,
    pub environment: DnsLabel,
    pub service: DnsLabel,
}
