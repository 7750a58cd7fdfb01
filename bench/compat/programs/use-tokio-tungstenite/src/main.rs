//! tokio-tungstenite WebSocket server on all interfaces: text comes back
//! upper-cased, binary reversed, pings are answered by the library. Driven
//! by `ws-client` (src/bin) run on the host. Port: first argument.
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

async fn serve(stream: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(text) => ws.send(Message::text(text.to_uppercase())).await?,
            Message::Binary(bytes) => {
                let mut reversed = bytes.to_vec();
                reversed.reverse();
                ws.send(Message::binary(reversed)).await?;
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(9001, |p| p.parse().expect("port"));
    let listener = TcpListener::bind(("0.0.0.0", port)).await.expect("bind");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            if let Err(e) = serve(stream).await {
                eprintln!("connection: {e}");
            }
        });
    }
}
