//! warp hello server (the script drives it with curl). Port: first argument.
use warp::Filter;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(8080, |p| p.parse().expect("port"));
    let root = warp::path::end()
        .and(warp::get())
        .map(|| "hello from warp\n");
    let json = warp::path!("json" / String)
        .and(warp::get())
        .map(|name: String| {
            warp::reply::json(&serde_json::json!({ "hello": name, "len": name.len() }))
        });
    let echo = warp::path("echo")
        .and(warp::post())
        .and(warp::body::bytes())
        .map(|body: warp::hyper::body::Bytes| String::from_utf8_lossy(&body).to_uppercase());
    warp::serve(root.or(json).or(echo))
        .run(([0, 0, 0, 0], port))
        .await;
}
