//! An HTTPS client: reqwest on rustls.
#[tokio::main]
async fn main() -> Result<(), reqwest::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://127.0.0.1:8443/".into());
    let body = reqwest::get(url).await?.text().await?;
    println!("{body}");
    Ok(())
}
