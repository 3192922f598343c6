//! HTTP handlers for AWS Lambda on [`lamina_runtime`]: one `http::Request<Body>` →
//! `http::Response<Body>` function serves API Gateway REST APIs (payload 1.0), HTTP APIs and
//! Function URLs (payload 2.0) and Application Load Balancers (single- and multi-value headers).
//!
//! ```no_run
//! use lamina_http::{Body, Context, Error, RequestExt};
//!
//! fn main() {
//!     lamina_http::run(|request: http::Request<Body>, _: &Context| {
//!         let name = request.query_parameter("name").unwrap_or("world").to_owned();
//!         Ok(http::Response::new(Body::from(format!("hello {name}"))))
//!     })
//! }
//! ```
//!
//! The event kind is detected from the event's keys; the response is written in the shape
//! that kind expects. A handler `Err` or panic becomes a `500 Internal Server Error` response
//! (logged with `log::error!`), never a Lambda function error: the caller gets HTTP, as from
//! any web server. An event that is none of the HTTP kinds is a `Runtime.DeserializationError`.

mod body;
mod error;
mod handle;
mod query;
mod request;
mod response;

pub use body::{Body, is_text_content_type};
pub use error::HttpError;
pub use handle::{handle_event, internal_server_error};
pub use http;
pub use lamina_runtime::{Config, Context, Error, Runtime, Sequential, StartError};
pub use query::QueryParameters;
pub use request::{EventKind, RequestContext, RequestExt, detect, from_event};
pub use response::to_json;

/// Serves HTTP events with `handler`, one at a time, until the runtime must stop, then exits
/// non-zero: the one-line form of `Runtime::from_env()?.serve_http(handler)` ([`ServeHttp`]).
pub fn run<F>(handler: F) -> !
where
    F: FnMut(http::Request<Body>, &Context) -> Result<http::Response<Body>, Error>,
{
    match Runtime::from_env() {
        Ok(runtime) => runtime.serve_http(handler),
        Err(error) => error.exit(),
    }
}

/// HTTP handlers on a [`Runtime`]: `use lamina_http::ServeHttp` and
/// `Runtime::from_env()?.serve_http(handler)`, after [`Runtime::init`] (or `init_async`) as
/// for any handler.
pub trait ServeHttp: sealed::Sealed {
    /// Serves HTTP events with `handler` until the runtime must stop, then exits non-zero.
    fn serve_http<F>(self, handler: F) -> !
    where
        F: FnMut(http::Request<Body>, &Context) -> Result<http::Response<Body>, Error>;

    /// Serves HTTP events with an async `handler` (feature `tokio`) on the runtime's
    /// current-thread tokio runtime; the handler gets its own copy of the context. An error or
    /// a panic, while the future is made or polled, is a logged 500 as for [`serve_http`](Self::serve_http).
    #[cfg(feature = "tokio")]
    fn serve_http_async<F, Fut>(self, handler: F) -> !
    where
        F: FnMut(http::Request<Body>, Context) -> Fut,
        Fut: std::future::Future<Output = Result<http::Response<Body>, Error>>;
}

impl ServeHttp for Runtime<Sequential> {
    fn serve_http<F>(self, mut handler: F) -> !
    where
        F: FnMut(http::Request<Body>, &Context) -> Result<http::Response<Body>, Error>,
    {
        self.serve_raw(move |event: Vec<u8>, context: &Context| {
            handle_event(&event, context, &mut handler)
        })
    }

    #[cfg(feature = "tokio")]
    fn serve_http_async<F, Fut>(self, handler: F) -> !
    where
        F: FnMut(http::Request<Body>, Context) -> Fut,
        Fut: std::future::Future<Output = Result<http::Response<Body>, Error>>,
    {
        asynchronous::serve(self, handler)
    }
}

mod sealed {
    /// Only lamina's runtime serves HTTP handlers.
    pub trait Sealed {}
    impl Sealed for lamina_runtime::Runtime<lamina_runtime::Sequential> {}
}

#[cfg(feature = "tokio")]
mod asynchronous;
