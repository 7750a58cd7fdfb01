//! tokio-tungstenite: a WebSocket echo server and client round trip over
//! loopback in one program.
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(socket)
            .await
            .expect("handshake");
        while let Some(message) = ws.next().await {
            let message = message.expect("message");
            if message.is_text() || message.is_binary() {
                ws.send(message).await.expect("echo");
            } else if message.is_close() {
                break;
            }
        }
    });
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{address}/chat"))
        .await
        .expect("connect");
    println!("handshake status {}", response.status());
    ws.send(Message::text("hello websocket"))
        .await
        .expect("send");
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send");
    let big: String = "x".repeat(100_000);
    ws.send(Message::text(big.clone())).await.expect("send");
    for _ in 0..3 {
        match ws.next().await.expect("reply").expect("message") {
            Message::Text(text) if text.len() > 100 => println!(
                "text of {} bytes, same {}",
                text.len(),
                text.as_str() == big
            ),
            Message::Text(text) => println!("text {text}"),
            Message::Binary(bytes) => println!("binary {:?}", &bytes[..]),
            other => println!("other {other:?}"),
        }
    }
    ws.close(None).await.expect("close");
    server.await.expect("server task");
    println!("closed");
}
