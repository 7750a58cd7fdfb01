//! `http-static`: serves the files baked into the image at `/srv/www` over
//! HTTP/1.1, with nothing but `std`: one thread per connection, keep-alive,
//! `GET` and `HEAD`. Listens on port 80, or the port given as argument.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

const ROOT: &str = "/srv/www";

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(80);
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    println!("serving {ROOT} on port {port}");
    for stream in listener.incoming() {
        // A connection that failed before it was accepted is the client's
        // loss, not a reason to stop serving.
        let Ok(stream) = stream else { continue };
        // A thread per connection, with a small stack: the default 2 MiB
        // would make a few dozen clients need more memory than a small
        // unikernel has. A connection no thread can be made for is closed.
        let _ = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                // A client that goes away mid-request is no error of ours.
                let _ = serve(stream);
            });
    }
    Ok(())
}

/// Answers requests on one connection until the client closes it.
fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut close = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if header.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
        }
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let (status, kind, body) = match (method, file_for(target)) {
            ("GET" | "HEAD", Some(path)) => match fs::read(&path) {
                Ok(body) => ("200 OK", content_type(&path), body),
                Err(_) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
            },
            ("GET" | "HEAD", None) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                b"GET or HEAD only\n".to_vec(),
            ),
        };
        // One write for the head and the body: two small writes would wait
        // on each other (Nagle's algorithm and delayed ACKs).
        let mut response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if method != "HEAD" {
            response.extend_from_slice(&body);
        }
        out.write_all(&response)?;
        if close {
            return Ok(());
        }
    }
}

/// The file a request target names under the root (`index.html` for a
/// directory); `None` for a target that tries to leave the root.
fn file_for(target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let full = Path::new(ROOT).join(relative);
    Some(if full.is_dir() {
        full.join("index.html")
    } else {
        full
    })
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
