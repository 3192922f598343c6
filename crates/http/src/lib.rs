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
mod request;
mod response;

use std::panic::{AssertUnwindSafe, catch_unwind};

pub use body::{Body, is_text_content_type};
pub use http;
pub use lamina_runtime::{Config, Context, Error, Runtime, Sequential, StartError};
pub use request::{EventKind, RequestContext, detect, from_event};
pub use response::to_json;

/// Why an event could not become an HTTP request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The event is not JSON.
    #[error("the event is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The event is JSON but none of the HTTP kinds.
    #[error(
        "the event is not an HTTP event: expected an API Gateway REST (v1) event (`httpMethod` and \
         `requestContext`), an HTTP API / Function URL event (`version` \"2.0\" and \
         `requestContext.http`) or an ALB event (`requestContext.elb`); got keys: {keys}"
    )]
    NotHttp {
        /// The event's top-level keys (or its JSON type).
        keys: String,
    },
    /// The event looks like `kind` but a field does not fit.
    #[error("malformed {kind} event: {source}")]
    Malformed {
        /// The kind detected.
        kind: &'static str,
        /// What did not fit.
        #[source]
        source: serde_json::Error,
    },
    /// `isBase64Encoded` was true but the body is not base64.
    #[error("the event's body is marked isBase64Encoded but is not base64: {0}")]
    Base64(#[source] base64::DecodeError),
    /// The path and query do not make a URI.
    #[error("the event's path and query do not make a valid URI {uri:?}: {source}")]
    Uri {
        /// The URI built.
        uri: String,
        /// Why it is invalid.
        #[source]
        source: http::Error,
    },
    /// A header value is not valid in HTTP.
    #[error("the event's {name} header is not a valid HTTP header value")]
    Header {
        /// The header's name.
        name: String,
    },
}

/// Query parameters and the event's context, from a request made by this crate.
pub trait RequestExt {
    /// The first value of query parameter `name`, percent-decoded.
    fn query_parameter(&self, name: &str) -> Option<&str> {
        self.query_parameters()
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
    /// Every `(name, value)` of the query string in order, percent-decoded.
    fn query_parameters(&self) -> &QueryParameters;
    /// The event's `requestContext` (absent on a request not made by this crate).
    fn request_context(&self) -> Option<&RequestContext>;
}

/// The decoded query string of a request, kept in its extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParameters(pub Vec<(String, String)>);

impl QueryParameters {
    /// Parses a raw query string (`a=1&b=x%20y`).
    pub fn parse(query: &str) -> Self {
        QueryParameters(
            form_urlencoded::parse(query.as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The pairs in order.
    pub fn iter(&self) -> std::slice::Iter<'_, (String, String)> {
        self.0.iter()
    }
}

static NO_QUERY: QueryParameters = QueryParameters(Vec::new());

impl<B> RequestExt for http::Request<B> {
    fn query_parameters(&self) -> &QueryParameters {
        self.extensions().get().unwrap_or(&NO_QUERY)
    }
    fn request_context(&self) -> Option<&RequestContext> {
        self.extensions().get()
    }
}

/// The 500 a handler's error or panic becomes.
pub fn internal_server_error() -> http::Response<Body> {
    let mut response = http::Response::new(Body::from("Internal Server Error"));
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Runs `handler` on an event; its error or panic is logged and answered with a 500.
pub fn handle_event<F>(event: &[u8], context: &Context, handler: F) -> Result<Vec<u8>, Error>
where
    F: FnOnce(http::Request<Body>, &Context) -> Result<http::Response<Body>, Error>,
{
    let (request, kind) = request_of(event)?;
    answer(
        catch_unwind(AssertUnwindSafe(|| handler(request, context))),
        kind,
    )
}

/// The request an event carries, or the `Runtime.DeserializationError` it is not one.
fn request_of(event: &[u8]) -> Result<(http::Request<Body>, EventKind), Error> {
    from_event(event)
        .map_err(|error| Error::new(lamina_runtime::error_type::DESERIALIZATION, error))
}

/// What the handler's response, error or panic becomes: the event kind's JSON, a logged 500
/// for an error or a panic.
fn answer(
    outcome: std::thread::Result<Result<http::Response<Body>, Error>>,
    kind: EventKind,
) -> Result<Vec<u8>, Error> {
    let response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            log::error!("handler error, answered 500: {error}");
            internal_server_error()
        }
        Err(panic) => {
            log::error!("handler panicked, answered 500: {}", panic_text(&*panic));
            internal_server_error()
        }
    };
    serde_json::to_vec(&to_json(response, kind))
        .map_err(|error| Error::msg(format!("cannot encode the HTTP response: {error}")))
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

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
