//! The metrics a VM defines and records, with Envoy's semantics, kept so
//! tests and the CLI can read them back.
//!
//! Envoy stores every proxy-wasm metric under the `wasmcustom.` namespace and
//! resolves a name to one stat per scope: defining the same name twice (from
//! the same VM or from another worker's VM) yields a new id for the *same*
//! stat. One [`MetricStore`] is one VM's view; [`MetricStore::merge`] sums
//! stores the way Envoy's shared stats sum the VMs of its worker threads.

use std::collections::BTreeMap;

use super::abi::{MetricType, Status};

/// The namespace Envoy prefixes to every metric a wasm module defines; the
/// Prometheus exporter strips it again.
pub const CUSTOM_STAT_PREFIX: &str = "wasmcustom.";

/// A stat: its kind and its full stored name (with [`CUSTOM_STAT_PREFIX`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    pub kind: MetricType,
    pub name: String,
}

/// What a stat holds. Histograms keep every sample so any bucket layout
/// can be rendered and `_sum`/`_count` are exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricValue {
    Counter(u64),
    Gauge(u64),
    Histogram(Vec<u64>),
}

impl MetricValue {
    fn empty(kind: MetricType) -> Self {
        match kind {
            MetricType::Counter => Self::Counter(0),
            MetricType::Gauge => Self::Gauge(0),
            MetricType::Histogram => Self::Histogram(Vec::new()),
        }
    }
}

/// One VM's metrics: ids handed to the guest and the stats they point to.
#[derive(Debug, Clone, Default)]
pub struct MetricStore {
    ids: BTreeMap<u32, MetricKey>,
    stats: BTreeMap<MetricKey, MetricValue>,
    next_seq: u32,
}

impl MetricStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// `proxy_define_metric`: a fresh id for the stat named
    /// `wasmcustom.<name>`, created empty on first definition.
    pub fn define(&mut self, kind: MetricType, name: &str) -> Result<u32, Status> {
        self.next_seq = self
            .next_seq
            .checked_add(1)
            .ok_or(Status::InternalFailure)?;
        // Envoy encodes the type in the id's low two bits; the guest treats the
        // id as opaque.
        let id = self
            .next_seq
            .checked_mul(4)
            .ok_or(Status::InternalFailure)?
            | kind.tag();
        let key = MetricKey {
            kind,
            name: format!("{CUSTOM_STAT_PREFIX}{name}"),
        };
        self.stats
            .entry(key.clone())
            .or_insert_with(|| MetricValue::empty(kind));
        self.ids.insert(id, key);
        Ok(id)
    }

    fn value_mut(&mut self, id: u32) -> Option<&mut MetricValue> {
        let key = self.ids.get(&id)?;
        self.stats.get_mut(key)
    }

    /// `proxy_increment_metric`: counters take only positive offsets
    /// (`BadArgument` otherwise, as Envoy), gauges move either way,
    /// histograms cannot be incremented.
    pub fn increment(&mut self, id: u32, offset: i64) -> Status {
        match self.value_mut(id) {
            None => Status::NotFound,
            Some(MetricValue::Counter(value)) => {
                if offset > 0 {
                    *value = value.saturating_add(offset.unsigned_abs());
                    Status::Ok
                } else {
                    Status::BadArgument
                }
            }
            Some(MetricValue::Gauge(value)) => {
                *value = if offset >= 0 {
                    value.saturating_add(offset.unsigned_abs())
                } else {
                    value.saturating_sub(offset.unsigned_abs())
                };
                Status::Ok
            }
            Some(MetricValue::Histogram(_)) => Status::BadArgument,
        }
    }

    /// `proxy_record_metric`: adds to a counter, sets a gauge, records a
    /// histogram sample.
    pub fn record(&mut self, id: u32, sample: u64) -> Status {
        match self.value_mut(id) {
            None => Status::NotFound,
            Some(MetricValue::Counter(value)) => {
                *value = value.saturating_add(sample);
                Status::Ok
            }
            Some(MetricValue::Gauge(value)) => {
                *value = sample;
                Status::Ok
            }
            Some(MetricValue::Histogram(samples)) => {
                samples.push(sample);
                Status::Ok
            }
        }
    }

    /// The value of metric `id` as Envoy's `proxy_get_metric` answers it
    /// (counters and gauges; a histogram is `BadArgument`). The host does not
    /// offer that import; the tests read values back through it.
    #[cfg(test)]
    pub(crate) fn get(&self, id: u32) -> Result<u64, Status> {
        let key = self.ids.get(&id).ok_or(Status::NotFound)?;
        match self.stats.get(key) {
            None => Err(Status::NotFound),
            Some(MetricValue::Counter(v) | MetricValue::Gauge(v)) => Ok(*v),
            Some(MetricValue::Histogram(_)) => Err(Status::BadArgument),
        }
    }

    /// Every stat, ordered by (kind, full name).
    pub fn iter(&self) -> impl Iterator<Item = (&MetricKey, &MetricValue)> {
        self.stats.iter()
    }

    /// The value of the counter defined as `name` (without the prefix).
    pub fn counter(&self, name: &str) -> Option<u64> {
        match self.lookup(MetricType::Counter, name)? {
            MetricValue::Counter(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of the gauge defined as `name` (without the prefix).
    pub fn gauge(&self, name: &str) -> Option<u64> {
        match self.lookup(MetricType::Gauge, name)? {
            MetricValue::Gauge(v) => Some(*v),
            _ => None,
        }
    }

    /// The samples of the histogram defined as `name` (without the prefix).
    pub fn histogram(&self, name: &str) -> Option<&[u64]> {
        match self.lookup(MetricType::Histogram, name)? {
            MetricValue::Histogram(samples) => Some(samples),
            _ => None,
        }
    }

    /// Counters as `defined name → value`, prefix stripped.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.stats
            .iter()
            .filter_map(|(key, value)| match value {
                MetricValue::Counter(v) => Some((strip_prefix(&key.name).to_owned(), *v)),
                _ => None,
            })
            .collect()
    }

    fn lookup(&self, kind: MetricType, name: &str) -> Option<&MetricValue> {
        self.stats.get(&MetricKey {
            kind,
            name: format!("{CUSTOM_STAT_PREFIX}{name}"),
        })
    }

    /// Adds `other`'s stats into this store, as Envoy's shared stats combine
    /// the VMs of several workers: counters and gauges sum (gauges are
    /// `Accumulate` stats in Envoy; a `record` (set) from two VMs would
    /// overwrite there, not sum), histogram samples concatenate. Ids are not
    /// merged: the result is for reading, not for a guest.
    pub fn merge(&mut self, other: &MetricStore) {
        for (key, value) in &other.stats {
            let entry = self
                .stats
                .entry(key.clone())
                .or_insert_with(|| MetricValue::empty(key.kind));
            match (entry, value) {
                (MetricValue::Counter(a), MetricValue::Counter(b))
                | (MetricValue::Gauge(a), MetricValue::Gauge(b)) => *a = a.saturating_add(*b),
                (MetricValue::Histogram(a), MetricValue::Histogram(b)) => a.extend_from_slice(b),
                // Same key means same kind; nothing else can occur.
                _ => {}
            }
        }
    }
}

/// `name` without [`CUSTOM_STAT_PREFIX`] (unchanged when absent).
pub fn strip_prefix(name: &str) -> &str {
    name.strip_prefix(CUSTOM_STAT_PREFIX).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_follows_envoy_increment_rules() {
        let mut m = MetricStore::new();
        let id = m.define(MetricType::Counter, "c").unwrap();
        assert_eq!(m.increment(id, 3), Status::Ok);
        assert_eq!(m.increment(id, 0), Status::BadArgument);
        assert_eq!(m.increment(id, -1), Status::BadArgument);
        assert_eq!(m.record(id, 2), Status::Ok);
        assert_eq!(m.get(id), Ok(5));
        assert_eq!(m.counter("c"), Some(5));
        assert_eq!(m.increment(id + 4, 1), Status::NotFound);
        assert_eq!(m.get(id + 4), Err(Status::NotFound));
    }

    #[test]
    fn same_name_is_one_stat_with_distinct_ids() {
        let mut m = MetricStore::new();
        let a = m.define(MetricType::Counter, "x").unwrap();
        let b = m.define(MetricType::Counter, "x").unwrap();
        assert_ne!(a, b);
        m.increment(a, 1);
        m.increment(b, 2);
        assert_eq!(m.counter("x"), Some(3));
        assert_eq!(m.iter().count(), 1);
        assert_eq!(m.iter().next().unwrap().0.name, "wasmcustom.x");
    }

    #[test]
    fn gauge_and_histogram_rules() {
        let mut m = MetricStore::new();
        let g = m.define(MetricType::Gauge, "g").unwrap();
        assert_eq!(m.increment(g, 5), Status::Ok);
        assert_eq!(m.increment(g, -2), Status::Ok);
        assert_eq!(m.gauge("g"), Some(3));
        assert_eq!(m.record(g, 10), Status::Ok);
        assert_eq!(m.get(g), Ok(10));
        let h = m.define(MetricType::Histogram, "h").unwrap();
        assert_eq!(m.record(h, 7), Status::Ok);
        assert_eq!(m.record(h, 9), Status::Ok);
        assert_eq!(m.increment(h, 1), Status::BadArgument);
        assert_eq!(m.get(h), Err(Status::BadArgument));
        assert_eq!(m.histogram("h"), Some(&[7, 9][..]));
        assert_eq!(m.define(MetricType::Counter, "h").map(|id| id & 3), Ok(0));
    }

    #[test]
    fn merge_sums_like_shared_envoy_stats() {
        let mut a = MetricStore::new();
        let mut b = MetricStore::new();
        let ca = a.define(MetricType::Counter, "c").unwrap();
        let cb = b.define(MetricType::Counter, "c").unwrap();
        let hb = b.define(MetricType::Histogram, "h").unwrap();
        a.increment(ca, 2);
        b.increment(cb, 5);
        b.record(hb, 4);
        a.merge(&b);
        assert_eq!(a.counter("c"), Some(7));
        assert_eq!(a.histogram("h"), Some(&[4][..]));
    }
}
