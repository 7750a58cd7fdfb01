//! ureq against a server the script starts. Base URL: first argument.
fn main() {
    let base = std::env::args().nth(1).expect("usage: use-ureq BASE_URL");
    let mut response = ureq::get(format!("{base}/hello.txt"))
        .call()
        .expect("request");
    println!(
        "status {} {:?}",
        response.status(),
        response.headers().get("content-type")
    );
    let body = response.body_mut().read_to_string().expect("body");
    println!("{} bytes, first line {:?}", body.len(), body.lines().next());
    match ureq::get(format!("{base}/missing")).call() {
        Err(ureq::Error::StatusCode(code)) => println!("missing: status {code}"),
        other => println!("missing: unexpected {:?}", other.map(|r| r.status())),
    }
    println!("{}", ureq::get("http://127.0.0.1:1/").call().is_err());
}
