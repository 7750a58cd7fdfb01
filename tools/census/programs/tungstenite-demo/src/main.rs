//! A WebSocket echo server: tokio-tungstenite.
use futures_util::{SinkExt, StreamExt};

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9001")
        .await
        .unwrap();
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
