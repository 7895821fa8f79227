use crate::DnsLabel;

/// The three identity dimensions, in the order every output uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// The tenant key.
    Project,
    Environment,
    Service,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [
        Dimension::Project,
        Dimension::Environment,
        Dimension::Service,
    ];

    /// The label/field name used in metrics and in log records.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Project => "project",
            Dimension::Environment => "environment",
            Dimension::Service => "service",
        }
    }

    /// The canonical `starform.io/*` pod-label key.
    pub fn pod_label_key(self) -> &'static str {
        match self {
            Dimension::Project => crate::keys::PROJECT,
            Dimension::Environment => crate::keys::ENVIRONMENT,
            Dimension::Service => crate::keys::SERVICE,
        }
    }
}

/// project · environment · service, each a validated DNS-1123 label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub project: DnsLabel,
    pub environment: DnsLabel,
    pub service: DnsLabel,
}

impl Identity {
    pub fn get(&self, d: Dimension) -> &DnsLabel {
        match d {
            Dimension::Project => &self.project,
            Dimension::Environment => &self.environment,
            Dimension::Service => &self.service,
        }
    }
}
