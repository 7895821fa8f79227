//! The Prometheus HTTP API as the dashboard calls it (through vmauth, with
//! basic auth), and the Prometheus text format Envoy serves.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use starform_vector_transform::base64;

/// Labels of one series, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One series of an instant vector: labels (without `__name__` unless the
/// query kept it) → value.
pub type Vector = BTreeMap<Labels, f64>;

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A user of the HTTP API on 127.0.0.1:`port` (vmauth, or VictoriaMetrics
/// itself with no credentials), every path under `prefix`.
#[derive(Clone)]
pub struct Client {
    pub port: u16,
    pub user: String,
    authorization: Option<String>,
    /// Put in front of every path: `""`, or a store's prefix in vmauth.
    pub prefix: String,
}

impl Client {
    pub fn new(port: u16, user: &str, password: &str) -> Self {
        Client {
            port,
            user: user.to_owned(),
            authorization: Some(format!(
                "Basic {}",
                base64::encode(format!("{user}:{password}").as_bytes())
            )),
            prefix: String::new(),
        }
    }

    /// The same user, every path under `prefix`.
    pub fn under(&self, prefix: &str) -> Client {
        Client {
            prefix: prefix.to_owned(),
            ..self.clone()
        }
    }

    /// No credentials: VictoriaMetrics itself, on loopback.
    pub fn anonymous(port: u16, prefix: &str) -> Self {
        Client {
            port,
            user: format!("anonymous@{port}{prefix}"),
            authorization: None,
            prefix: prefix.to_owned(),
        }
    }

    /// GET `path?k=v&…`: (status, body).
    pub fn get(&self, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        let path = format!("{}{path}", self.prefix);
        let target = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let headers: Vec<(&str, &str)> = self
            .authorization
            .iter()
            .map(|a| ("authorization", a.as_str()))
            .collect();
        let r = starform_wasm::envoy::get(self.port, &target, &headers)
            .unwrap_or_else(|e| panic!("{}: {e}", self.user));
        (r.status, r.body)
    }

    /// POST `path` with `params` as a form body: (status, body).
    pub fn post_form(&self, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let form: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        headers.extend(
            self.authorization
                .iter()
                .map(|a| ("authorization", a.as_str())),
        );
        let r = starform_wasm::envoy::http::send(
            self.port,
            "POST",
            &format!("{}{path}", self.prefix),
            &headers,
            form.join("&").as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", self.user));
        (r.status, r.body)
    }

    /// A successful API answer's `data`, or the error text.
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Json, String> {
        let (status, body) = self.get(path, params);
        let value: Json = serde_json::from_str(&body).map_err(|e| {
            format!(
                "{} GET {}{path} {params:?}: {status} {e}: {body}",
                self.user, self.prefix
            )
        })?;
        if status != 200 || value["status"] != "success" {
            return Err(format!(
                "{} GET {}{path} {params:?}: {status} {body}",
                self.user, self.prefix
            ));
        }
        Ok(value["data"].clone())
    }

    /// An instant query at `time` (Unix seconds), as a vector.
    pub fn query(&self, promql: &str, time: Option<f64>) -> Result<Vector, String> {
        let time = time.map(|t| format!("{t:.3}"));
        let mut params = vec![("query", promql)];
        if let Some(t) = &time {
            params.push(("time", t));
        }
        let data = self.api("/api/v1/query", &params)?;
        if data["resultType"] != "vector" {
            return Err(format!("{promql}: not a vector: {data}"));
        }
        let mut vector = Vector::new();
        for series in data["result"].as_array().into_iter().flatten() {
            let labels: Labels = series["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let value = series["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("{promql}: bad sample {series}"))?;
            vector.insert(labels, value);
        }
        Ok(vector)
    }
}

/// The `starform_*` samples of a Prometheus text page: labels with
/// `__name__` → value.
pub fn parse_text(text: &str) -> Vector {
    let mut samples = Vector::new();
    for line in text.lines().filter(|l| l.starts_with("starform_")) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, mut rest) = series.split_once('{').unwrap_or((series, ""));
        let mut labels = Labels::new();
        labels.insert("__name__".into(), name.to_owned());
        // Label values here are DNS labels, classes and bounds: no quotes
        // or escapes inside.
        while let Some((key, after)) = rest.split_once("=\"") {
            let end = after.find('"').unwrap();
            labels.insert(
                key.trim_start_matches(',').to_owned(),
                after[..end].to_owned(),
            );
            rest = &after[end + 1..];
        }
        samples.insert(labels, value.parse().unwrap());
    }
    samples
}

/// `a` and `b` hold the same series with values equal to 1e-9 (relative).
pub fn same_values(a: &Vector, b: &Vector) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((la, va), (lb, vb))| {
            la == lb && (va - vb).abs() <= 1e-9 * va.abs().max(vb.abs()).max(1.0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        assert_eq!(base64::encode(b""), "");
        assert_eq!(base64::encode(b"f"), "Zg==");
        assert_eq!(base64::encode(b"fo"), "Zm8=");
        assert_eq!(base64::encode(b"foo"), "Zm9v");
        assert_eq!(
            base64::encode(b"tenant-acme:s3cret"),
            "dGVuYW50LWFjbWU6czNjcmV0"
        );
        assert_eq!(urlencode("a{b=\"c\"} 1/2"), "a%7Bb%3D%22c%22%7D%201%2F2");
    }
}
