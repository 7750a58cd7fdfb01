//! A blocking HTTPS client: ureq.
fn main() -> Result<(), ureq::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://127.0.0.1:8443/".into());
    let body = ureq::get(&url).call()?.body_mut().read_to_string()?;
    println!("{body}");
    Ok(())
}
