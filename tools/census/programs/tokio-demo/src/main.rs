//! tokio's runtime, TCP/UDP, timers, fs, processes and signals.
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    });
    let mut client = tokio::net::TcpStream::connect(addr).await?;
    client.write_all(b"hello").await?;
    let got = server.await.expect("server task")?;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let text = tokio::fs::read_to_string("/etc/hostname")
        .await
        .unwrap_or_default();
    let status = tokio::process::Command::new("true").status().await;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(Duration::from_millis(1)) => {}
    }
    println!(
        "{} {} {:?} {:?}",
        String::from_utf8_lossy(&got),
        text.len(),
        status.is_ok(),
        udp.local_addr()
    );
    Ok(())
}
