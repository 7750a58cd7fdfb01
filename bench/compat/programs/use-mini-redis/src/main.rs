//! mini-redis as a library: its server on all interfaces (the upstream
//! mini-redis-server binary listens on 127.0.0.1 only, which a published
//! guest port cannot reach, as in a container). Port: `--port N`.
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> mini_redis::Result<()> {
    let port: u16 = match std::env::args().nth(1).as_deref() {
        Some("--port") => std::env::args().nth(2).expect("port").parse()?,
        _ => mini_redis::DEFAULT_PORT.parse()?,
    };
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    mini_redis::server::run(listener, tokio::signal::ctrl_c()).await
}
