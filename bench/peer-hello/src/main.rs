//! `sample-hello` written against crates.io's `lambda_runtime`, as its README shows.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: String,
}

#[derive(Serialize)]
struct Response {
    message: String,
}

async fn hello(event: LambdaEvent<Request>) -> Result<Response, Error> {
    let message = format!("Hello, {}!", event.payload.name);
    Ok(Response { message })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(hello)).await
}
