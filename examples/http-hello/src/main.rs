//! An HTTP server on tokio and hyper, unmodified: every request gets
//! "Hello from Kiln!". The port is the first argument (default 80).

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello from Kiln!\n",
    ))))
}

#[tokio::main]
async fn main() {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => match arg.parse() {
            Ok(port) => port,
            Err(_) => {
                eprintln!("http-hello: not a port number: {arg}");
                std::process::exit(2);
            }
        },
        None => 80,
    };
    let address = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = match TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("http-hello: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    println!("http-hello: listening on port {port}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(connection) => connection,
            Err(e) => {
                eprintln!("http-hello: accept: {e}");
                continue;
            }
        };
        tokio::spawn(async move {
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
            if let Err(e) = served {
                eprintln!("http-hello: connection: {e}");
            }
        });
    }
}
