//! reqwest (blocking) against a server the script starts. Base URL: first argument.
fn main() {
    let base = std::env::args()
        .nth(1)
        .expect("usage: use-reqwest BASE_URL");
    let client = reqwest::blocking::Client::new();
    for path in ["/hello.txt", "/missing"] {
        let response = client.get(format!("{base}{path}")).send().expect("request");
        println!(
            "{path}: {} {:?}",
            response.status(),
            response.headers().get("content-type")
        );
        let body = response.text().expect("body");
        println!("{} bytes, first line {:?}", body.len(), body.lines().next());
    }
    println!("{}", client.get("http://127.0.0.1:1/").send().is_err());
}
