use lamina_runtime::{Context, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: String,
}

#[derive(Serialize)]
struct Response {
    message: String,
}

fn main() {
    lamina_runtime::run(
        |event: Request, _ctx: &Context| -> Result<Response, Error> {
            Ok(Response {
                message: format!("Hello, {}!", event.name),
            })
        },
    )
}
