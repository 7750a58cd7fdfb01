//! A tonic gRPC server (the health service, whose code is pregenerated).
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .add_service(health)
        .serve("127.0.0.1:50051".parse()?)
        .await?;
    Ok(())
}
