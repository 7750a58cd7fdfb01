//! hyper 1.x HTTP/1 server on its own (no framework), driven by curl.
//! Port: first argument.
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::net::TcpListener;

async fn route(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let (status, body) = match (request.method(), path.as_str()) {
        (&Method::GET, "/") => (StatusCode::OK, "hello from hyper\n".to_string()),
        (&Method::GET, p) if p.starts_with("/json/") => {
            let name = &p["/json/".len()..];
            (
                StatusCode::OK,
                format!("{{\"hello\":\"{name}\",\"len\":{}}}", name.len()),
            )
        }
        (&Method::POST, "/echo") => {
            let bytes = request.into_body().collect().await.map(|b| b.to_bytes());
            match bytes {
                Ok(bytes) => (
                    StatusCode::OK,
                    String::from_utf8_lossy(&bytes).to_uppercase(),
                ),
                Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        _ => (StatusCode::NOT_FOUND, format!("no route for {path}\n")),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(8080, |p| p.parse().expect("port"));
    let listener = TcpListener::bind(("0.0.0.0", port)).await.expect("bind");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(route))
                .await;
            if let Err(e) = served {
                eprintln!("connection: {e}");
            }
        });
    }
}
