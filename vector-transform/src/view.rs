//! What rules 3–5 read from a record, whichever path found it: the fast
//! scan of a record already in output form (`scan`) or the parsed tree of
//! the general path.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::label_keys::LabelKeys;
use crate::scan::Scanned;

/// A pod-label map: Fluent Bit's `kubernetes.labels` or Vector's
/// `kubernetes.pod_labels`.
pub(crate) trait LabelMap {
    /// Candidate label key number `id` of `keys` (a map may find it by
    /// number or by name): `None` when absent, `Some(None)` when its value
    /// is not a string.
    fn lookup(&self, id: usize, keys: &LabelKeys) -> Option<Option<Cow<'_, str>>>;
}

impl LabelMap for Map<String, Value> {
    fn lookup(&self, id: usize, keys: &LabelKeys) -> Option<Option<Cow<'_, str>>> {
        self.get(keys.key(id))
            .map(|v| v.as_str().map(Cow::Borrowed))
    }
}

/// The identity sources of one record and the namespace beside them.
pub(crate) struct RecordView<'a, L: ?Sized> {
    /// The label maps present (objects only), in the order rule 4 visits
    /// them: `kubernetes.labels`, then `kubernetes.pod_labels`.
    pub(crate) sources: [Option<&'a L>; 2],
    /// The path of the namespace field that goes with the first label map
    /// present (`kubernetes.namespace_name` with `labels`, else
    /// `kubernetes.pod_namespace`), and its value when that is a string.
    pub(crate) namespace: (&'static str, Option<Cow<'a, str>>),
}

/// The namespace fields: their name inside `kubernetes`, and their path as
/// a `namespace_mismatch` quarantine names it.
pub(crate) const FLUENT_BIT_NAMESPACE: (&str, &str) =
    ("namespace_name", "kubernetes.namespace_name");
pub(crate) const VECTOR_NAMESPACE: (&str, &str) = ("pod_namespace", "kubernetes.pod_namespace");

impl<'a> RecordView<'a, Map<String, Value>> {
    pub(crate) fn of_map(record: &'a Map<String, Value>) -> Self {
        let k8s = record.get("kubernetes").and_then(Value::as_object);
        let map = |field: &str| k8s.and_then(|k| k.get(field)).and_then(Value::as_object);
        let labels = map("labels");
        let (name, path) = if labels.is_some() {
            FLUENT_BIT_NAMESPACE
        } else {
            VECTOR_NAMESPACE
        };
        let namespace = k8s
            .and_then(|k| k.get(name))
            .and_then(Value::as_str)
            .map(Cow::Borrowed);
        Self {
            sources: [labels, map("pod_labels")],
            namespace: (path, namespace),
        }
    }
}

impl<'a> RecordView<'a, crate::scan::ScannedMap<'a>> {
    pub(crate) fn of_scanned(scanned: &'a Scanned<'a>) -> Self {
        let labels = scanned.labels.as_ref();
        let ((_, path), span) = if labels.is_some() {
            (FLUENT_BIT_NAMESPACE, scanned.namespace_name)
        } else {
            (VECTOR_NAMESPACE, scanned.pod_namespace)
        };
        Self {
            sources: [labels, scanned.pod_labels.as_ref()],
            namespace: (path, span.map(|s| scanned.string(s))),
        }
    }
}
