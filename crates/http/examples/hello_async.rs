//! The async form: the handler's future runs on one current-thread tokio runtime.
use lamina_http::http::{Request, Response};
use lamina_http::{Body, Context, Error, RequestExt, Runtime, ServeHttp, StartError};

fn main() -> Result<(), StartError> {
    Runtime::from_env()?.serve_http_async(|event: Request<Body>, _: Context| async move {
        let who = event.query_parameter("name").unwrap_or("world").to_owned();
        Ok::<_, Error>(Response::new(Body::from(format!("Hello {who}"))))
    })
}
