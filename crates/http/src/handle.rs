//! One event through a blocking handler: the request it carries, the handler's response, error
//! or panic, and the JSON answered.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lamina_runtime::{Context, Error};

use crate::body::Body;
use crate::request::{EventKind, from_event};
use crate::response::to_json;

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
pub(crate) fn request_of(event: &[u8]) -> Result<(http::Request<Body>, EventKind), Error> {
    from_event(event)
        .map_err(|error| Error::new(lamina_runtime::error_type::DESERIALIZATION, error))
}

/// What the handler's response, error or panic becomes: the event kind's JSON, a logged 500
/// for an error or a panic.
pub(crate) fn answer(
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
