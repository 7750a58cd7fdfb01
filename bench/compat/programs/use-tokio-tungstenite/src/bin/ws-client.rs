//! The host-side client for use-tokio-tungstenite: connects to URL, sends
//! each further argument as a text message and one binary message, prints
//! every answer, then closes. With no messages it only does the handshake
//! (the script's readiness check).
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: ws-client URL [MESSAGE]...");
    let messages: Vec<String> = args.collect();
    let (mut ws, response) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    println!("handshake status {}", response.status());
    if !messages.is_empty() {
        for text in &messages {
            ws.send(Message::text(text.as_str())).await.expect("send");
            println!("{:?}", ws.next().await.expect("answer").expect("message"));
        }
        ws.send(Message::binary(vec![1u8, 2, 3, 250]))
            .await
            .expect("send");
        println!("{:?}", ws.next().await.expect("answer").expect("message"));
        let big = "x".repeat(100_000);
        ws.send(Message::text(big)).await.expect("send");
        let answer = ws.next().await.expect("answer").expect("message");
        println!("large message back: {} bytes", answer.len());
    }
    ws.close(None).await.expect("close");
    println!("closed");
}
