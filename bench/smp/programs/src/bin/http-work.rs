//! http-hello with CPU work: tokio's multi-threaded runtime and hyper, and
//! a handler that computes for a fixed time before it answers, so that
//! throughput depends on how many CPUs the runtime's workers get.
//! Arguments: the port (default 80), then the microseconds of work per
//! request (default 1000).

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Computes (no blocking, no sleeping) until `work` has passed.
fn compute_for(work: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while start.elapsed() < work {
        for _ in 0..64 {
            x = black_box(x ^ (x << 13) ^ (x >> 7) ^ (x << 17));
        }
    }
    x
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .map_or(80, |a| a.parse().expect("a port number"));
    let work = Duration::from_micros(
        args.next()
            .map_or(1000, |a| a.parse().expect("microseconds")),
    );
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))
        .await
        .unwrap_or_else(|e| panic!("cannot listen on port {port}: {e}"));
    println!(
        "http-work: listening on port {port}, {} us of work per request",
        work.as_micros()
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<Incoming>| async move {
                let value = compute_for(work);
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                    "{value:x}\n"
                )))))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
