//! An async function (feature `tokio`) for the end-to-end tests: greets after a tokio sleep.

use lamina_runtime::{Context, Error, Runtime, StartError};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: String,
}

#[derive(Serialize)]
struct Response {
    message: String,
    request_id: String,
}

fn main() -> Result<(), StartError> {
    Runtime::from_env()?.serve_async(|event: Request, context: Context| async move {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        Ok::<_, Error>(Response {
            message: format!("Hello, {}!", event.name),
            request_id: context.request_id,
        })
    })
}
