//! lambda_http's hello example (23 lines), written with lamina-http.
use lamina_http::http::{Request, Response};
use lamina_http::{Body, Context, Error, RequestExt};

fn main() {
    lamina_http::run(
        |event: Request<Body>, _: &Context| -> Result<Response<Body>, Error> {
            let who = event.query_parameter("name").unwrap_or("world");
            let message = format!("Hello {who}, this is an AWS Lambda HTTP request");
            Ok(Response::builder()
                .status(200)
                .header("content-type", "text/html")
                .body(message.into())?)
        },
    )
}
