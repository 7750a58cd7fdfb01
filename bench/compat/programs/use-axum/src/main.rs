//! axum hello server (the script drives it with curl). Port: first argument.
use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(8080, |p| p.parse().expect("port"));
    let app = Router::new()
        .route("/", get(|| async { "hello from axum\n" }))
        .route(
            "/json/{name}",
            get(|Path(name): Path<String>| async move {
                Json(serde_json::json!({ "hello": name, "len": name.len() }))
            }),
        )
        .route(
            "/echo",
            post(|body: String| async move { body.to_uppercase() }),
        );
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
