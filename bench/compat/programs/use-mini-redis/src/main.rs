//! mini-redis as a library: its server on all interfaces (the published
//! binary listens on 127.0.0.1 only), driven by redis-cli and
//! redis-benchmark. Port: `--port N`.
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(i) => args[i + 1].parse().expect("port"),
        None => 6379,
    };
    let listener = TcpListener::bind(("0.0.0.0", port)).await.expect("bind");
    mini_redis::server::run(listener, tokio::signal::ctrl_c())
        .await
        .expect("server");
}
