//! lambda_runtime's basic-streaming-response example: four lines, 300 ms apart.
use std::time::Duration;

use lambda_runtime::streaming::{Body, Response, channel};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn func(_event: LambdaEvent<Value>) -> Result<Response<Body>, Error> {
    let messages = ["Hello", "world", "from", "Lambda!"];
    let (mut tx, rx) = channel();
    tokio::spawn(async move {
        for message in messages {
            tx.send_data(format!("{message}\n").into()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    Ok(Response::from(rx))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(func)).await
}
