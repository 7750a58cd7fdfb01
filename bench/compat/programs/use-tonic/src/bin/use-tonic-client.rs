//! tonic client for use-tonic-server: a few calls, one refused. URL: first argument.
mod hello {
    tonic::include_proto!("hello");
}
use hello::greeter_client::GreeterClient;
use hello::HelloRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:50051".to_string());
    let mut client = GreeterClient::connect(url).await?;
    for name in ["Kiln", "tonic", "", "gRPC"] {
        let request = tonic::Request::new(HelloRequest {
            name: name.to_string(),
        });
        match client.say_hello(request).await {
            Ok(reply) => println!("reply: {}", reply.into_inner().message),
            Err(status) => println!("status: {:?} {}", status.code(), status.message()),
        }
    }
    Ok(())
}
