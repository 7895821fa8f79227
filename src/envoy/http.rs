//! A minimal HTTP/1.1 client for loopback: one request per connection, reading
//! exactly one response by its framing (content-length or chunked). Waiting
//! for the server to close instead would wait out Envoy's
//! `delayed_close_timeout` (1 s) on every request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("GET 127.0.0.1:{port}{path}: {source}")]
    Io {
        port: u16,
        path: String,
        source: std::io::Error,
    },
    #[error("GET 127.0.0.1:{port}{path}: {what}: {data:?}")]
    Protocol {
        port: u16,
        path: String,
        what: &'static str,
        data: String,
    },
}

/// GET `path` from 127.0.0.1:`port`.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    send(port, "GET", path, headers, b"")
}

/// `method` `path` to 127.0.0.1:`port`, with `body` (sent with a
/// content-length when not empty).
pub fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, HttpError> {
    let io = |source| HttpError::Io {
        port,
        path: path.to_owned(),
        source,
    };
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str("Host: localhost\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).map_err(io)?;

    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(parsed) = parse(&data) {
            return parsed.map_err(|what| HttpError::Protocol {
                port,
                path: path.to_owned(),
                what,
                data: String::from_utf8_lossy(&data).into_owned(),
            });
        }
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Err(HttpError::Protocol {
                port,
                path: path.to_owned(),
                what: "connection closed mid-response",
                data: String::from_utf8_lossy(&data).into_owned(),
            });
        }
        data.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

/// `None` while `data` holds less than one whole response.
fn parse(data: &[u8]) -> Option<Result<Response, &'static str>> {
    let text = std::str::from_utf8(data).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let Some(status) = head.split(' ').nth(1).and_then(|s| s.parse().ok()) else {
        return Some(Err("bad status line"));
    };
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(body).map(|body| Ok(Response { status, body }));
    }
    let len: usize = match header("content-length").map(|v| v.parse()) {
        Some(Ok(len)) => len,
        Some(Err(_)) => return Some(Err("bad content-length")),
        None => 0,
    };
    let body = body.get(..len)?;
    Some(Ok(Response {
        status,
        body: body.to_owned(),
    }))
}

/// Decodes a chunked body (Envoy's admin answers chunked).
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_framing() {
        let r = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "abc"));
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nabc").is_none());
        let r = parse(
            b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "abcde"));
        assert_eq!(
            parse(b"HTTP/1.1 x\r\n\r\n").unwrap(),
            Err("bad status line")
        );
    }
}
