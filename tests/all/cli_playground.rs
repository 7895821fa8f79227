//! `starform-wasm playground`: the embedded page served on loopback. What
//! the page computes is tested in Chromium (playground/tests/browser.py).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::starform;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Status line, headers, body of `GET path`.
fn get(port: u16, path: &str) -> (String, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..end].to_vec()).unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap();
    (
        status.to_owned(),
        headers.to_ascii_lowercase(),
        response[end + 4..].to_vec(),
    )
}

#[test]
fn serves_the_page_and_its_wasm_on_loopback() {
    let mut child = starform("playground")
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let _server = Server(child);
    let port: u16 = url
        .trim()
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap()
        .parse()
        .unwrap();

    let (status, headers, body) = get(port, "/#route=x");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains(r#"id="route-result""#) && page.contains(r#"id="record-result""#));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "fetches nothing from elsewhere"
    );

    let (status, headers, wasm) = get(port, "/starform_playground_bg.wasm");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("content-type: application/wasm"),
        "{headers}"
    );
    assert!(wasm.starts_with(b"\0asm"));
    assert!(
        wasm.len() <= 600 * 1024,
        "the playground's wasm is {} bytes",
        wasm.len()
    );

    let (status, _, glue) = get(port, "/starform_playground.js");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(String::from_utf8(glue)
        .unwrap()
        .contains("starform_playground_bg.wasm"));

    assert_eq!(get(port, "/../Cargo.toml").0, "HTTP/1.1 404 Not Found");
}
