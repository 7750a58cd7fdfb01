//! tonic hello server; the script calls it with use-tonic-client. Port: first argument.
use tonic::{transport::Server, Request, Response, Status};

mod hello {
    tonic::include_proto!("hello");
}
use hello::greeter_server::{Greeter, GreeterServer};
use hello::{HelloReply, HelloRequest};

#[derive(Default)]
struct Hello;

#[tonic::async_trait]
impl Greeter for Hello {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        if name.is_empty() {
            return Err(Status::invalid_argument("name must not be empty"));
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}!"),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .map_or(50051, |p| p.parse().expect("port"));
    Server::builder()
        .add_service(GreeterServer::new(Hello))
        .serve(([0, 0, 0, 0], port).into())
        .await?;
    Ok(())
}
