//! `starform-wasm playground [--port N]`: serves the browser playground (the
//! page in playground/www and the wasm-bindgen build of playground/, both
//! embedded at build time) on 127.0.0.1 until interrupted. The first line on
//! stdout is the page's URL.
//!
//! The same files work from any static host: nothing is fetched from
//! elsewhere, and the page needs only `.wasm` served as `application/wasm`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use super::Failure;

/// Serve the playground page (routes, log records, VRL) on loopback.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 8737)]
    port: u16,
}

/// (path, content type, bytes)
type File = (&'static str, &'static str, &'static [u8]);

macro_rules! page_file {
    ($name:literal, $type:literal) => {
        (
            concat!("/", $name),
            $type,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/playground/www/",
                $name
            )),
        )
    };
}

#[cfg(starform_playground)]
macro_rules! built_file {
    ($name:literal, $type:literal) => {
        (
            concat!("/", $name),
            $type,
            include_bytes!(concat!(env!("STARFORM_PLAYGROUND_DIR"), "/", $name)),
        )
    };
}

/// Every file of the static site.
#[cfg(starform_playground)]
pub const FILES: [File; 5] = [
    page_file!("index.html", "text/html; charset=utf-8"),
    page_file!("app.js", "text/javascript; charset=utf-8"),
    page_file!("style.css", "text/css; charset=utf-8"),
    built_file!("starform_playground.js", "text/javascript; charset=utf-8"),
    built_file!("starform_playground_bg.wasm", "application/wasm"),
];

/// Without wasm-bindgen at build time only the page's own files exist.
#[cfg(not(starform_playground))]
pub const FILES: [File; 3] = [
    page_file!("index.html", "text/html; charset=utf-8"),
    page_file!("app.js", "text/javascript; charset=utf-8"),
    page_file!("style.css", "text/css; charset=utf-8"),
];

/// Entry point for the subcommand.
pub fn run(args: Args) -> Result<(), Failure> {
    if cfg!(not(starform_playground)) {
        return Err(Failure::runtime(
            "playground: this binary was built without the playground's wasm (no wasm-bindgen of \
             the version in Cargo.lock at build time); install it with `cargo install \
             wasm-bindgen-cli --version <that version>` and rebuild",
        ));
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .map_err(|e| Failure::usage(format!("playground: --port {}: {e}", args.port)))?;
    let port = listener.local_addr()?.port();
    let mut out = std::io::stdout().lock();
    writeln!(out, "http://127.0.0.1:{port}/")?;
    out.flush()?;
    drop(out);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // One thread per connection: a browser opens several at once, and
        // one that stalls must not hold up the others.
        std::thread::spawn(move || {
            // A client that went away is not the server's failure.
            let _ = serve(stream);
        });
    }
    Ok(())
}

/// Answers one request, then closes the connection.
fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Headers are not needed; read them so the client sees its request consumed.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let path = if path == "/" { "/index.html" } else { path };
    let mut stream = stream;
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"",
            true,
        );
    }
    match FILES.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, body)) => {
            respond(&mut stream, "200 OK", content_type, body, method == "GET")
        }
        None => respond(
            &mut stream,
            "404 Not Found",
            "text/plain; charset=utf-8",
            b"not found\n",
            method == "GET",
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}
