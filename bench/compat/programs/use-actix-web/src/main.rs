//! actix-web hello server (the script drives it with curl). Port: first argument.
use actix_web::{get, post, web, App, HttpResponse, HttpServer, Responder};

#[get("/")]
async fn hello() -> impl Responder {
    "hello from actix-web\n"
}

#[get("/json/{name}")]
async fn json(name: web::Path<String>) -> impl Responder {
    HttpResponse::Ok().json(serde_json::json!({ "hello": name.as_str(), "len": name.len() }))
}

#[post("/echo")]
async fn echo(body: String) -> impl Responder {
    body.to_uppercase()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(8080, |p| p.parse().expect("port"));
    HttpServer::new(|| App::new().service(hello).service(json).service(echo))
        .workers(2)
        .bind(("0.0.0.0", port))?
        .run()
        .await
}
