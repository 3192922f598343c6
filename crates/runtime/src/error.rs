//! The runtime's error types, all in this one module: the `errorType` names the runtime itself
//! chooses ([`error_type`]; Lambda's own are [`lamina_context::facts::error_type`]), the
//! [`Error`] a handler returns, the JSON body it becomes on the Runtime API, why the runtime
//! could not start ([`StartError`]) and why it stops serving ([`FatalError`]).

use std::borrow::Cow;
use std::fmt;

use lamina_context::ConfigError;
use serde::Serialize;

pub use crate::endpoint::EndpointError;

/// The `errorType` values the runtime itself chooses. Stable: callers may match on them.
///
/// Lambda's own types (what Lambda reports when a runtime exits, times out, or posts a
/// response over its limit) are [`lamina_context::facts::error_type`]; no name here is also a
/// name there, so a `use` of either never reads as the other.
///
/// A handler's own errors carry the type it chose with [`Error::new`]; errors converted with
/// `?` from any [`std::error::Error`] get [`HANDLER`](error_type::HANDLER) (or [`INIT`](error_type::INIT) during init). The runtime
/// never derives a type from a Rust type name: those change with refactoring and leak
/// internals (`&anyhow::Error`), which breaks callers that match on `errorType`.
pub mod error_type {
    /// A handler error that did not choose a type (e.g. converted by `?`).
    pub const HANDLER: &str = "Handler.Error";
    /// An init error that did not choose a type; posted to `/runtime/init/error`.
    pub const INIT: &str = "Runtime.InitError";
    /// The function's environment is unusable (a malformed `AWS_LAMBDA_*` variable); posted to
    /// `/runtime/init/error`.
    pub const CONFIG: &str = "Runtime.ConfigError";
    /// The event is not the JSON the handler takes; the message names the JSON path at fault.
    pub const DESERIALIZATION: &str = "Runtime.DeserializationError";
    /// The handler's result could not be serialized to JSON.
    pub const SERIALIZATION: &str = "Runtime.SerializationError";
    /// The handler panicked; the message is the panic's message. The runtime goes on to the
    /// next event.
    pub const HANDLER_PANIC: &str = "Runtime.HandlerPanic";
    /// The init function panicked; posted to `/runtime/init/error`.
    pub const INIT_PANIC: &str = "Runtime.InitPanic";
    /// The response is larger than [`MAX_RESPONSE_BYTES`](crate::MAX_RESPONSE_BYTES) (or a
    /// stream than [`MAX_STREAMED_RESPONSE_BYTES`](crate::stream::MAX_STREAMED_RESPONSE_BYTES)):
    /// the runtime reports this instead of posting it. Not Lambda's
    /// [`RESPONSE_TOO_LARGE`](lamina_context::facts::error_type::RESPONSE_TOO_LARGE)
    /// (`Function.ResponseSizeTooLarge`), which is what Lambda answers when a runtime posts such
    /// a response anyway.
    pub const RESPONSE_OVER_LIMIT: &str = "Runtime.ResponseTooLarge";
    /// The `/next` answer's headers are malformed (e.g. a bad deadline); the message names the
    /// header.
    pub const INVALID_CONTEXT: &str = "Runtime.InvalidContext";
}

/// An error from a handler or its init, reported to Lambda as `errorType` + `errorMessage`.
///
/// Build one with [`Error::new`] to choose the type, or let `?` convert any
/// [`std::error::Error`] (its message is the error and its chain of sources, joined by `: `).
/// For `anyhow::Error` and `Box<dyn std::error::Error>`, which are not themselves a
/// `std::error::Error`, use `Error::msg(format!("{error:#}"))` (anyhow) or `Error::msg(error)`.
pub struct Error {
    error_type: Option<Cow<'static, str>>,
    message: String,
    stack_trace: Vec<String>,
}

impl Error {
    /// An error of the chosen `errorType` (e.g. `"Order.NotFound"`).
    pub fn new(error_type: impl Into<Cow<'static, str>>, message: impl fmt::Display) -> Self {
        Self {
            error_type: Some(error_type.into()),
            message: message.to_string(),
            stack_trace: Vec::new(),
        }
    }

    /// An error with the default type ([`error_type::HANDLER`], or [`error_type::INIT`] in init).
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            error_type: None,
            message: message.to_string(),
            stack_trace: Vec::new(),
        }
    }

    /// This error with `frames` as its `stackTrace` (e.g. the trace a handler in another
    /// language printed). Empty by default: Rust has no cheap, stable trace to give.
    pub fn with_stack_trace(mut self, frames: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.stack_trace = frames.into_iter().map(Into::into).collect();
        self
    }

    /// The frames given with [`Error::with_stack_trace`].
    pub fn stack_trace(&self) -> &[String] {
        &self.stack_trace
    }

    /// The type chosen for this error, if any.
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    /// The message (`errorMessage`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The body posted to the Runtime API, with `default_type` when no type was chosen.
    pub(crate) fn into_body(self, default_type: &'static str) -> ErrorBody {
        let mut body = ErrorBody::new(
            self.error_type.unwrap_or(Cow::Borrowed(default_type)),
            self.message,
        );
        body.stack_trace = self.stack_trace;
        body
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::msg(message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_type {
            Some(error_type) => write!(f, "{error_type}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("error_type", &self.error_type)
            .field("message", &self.message)
            .field("stack_trace", &self.stack_trace)
            .finish()
    }
}

/// Why the runtime could not start: its configuration, the Runtime API's address, or the init
/// phase. Whenever the Runtime API's address is usable the failure has already been posted to
/// `/runtime/init/error` (with [`error_type::CONFIG`], the init's chosen type,
/// [`error_type::INIT`] or [`error_type::INIT_PANIC`]); all that is left is to exit, which
/// [`StartError::exit`] does in lamina's words, or returning it from `main` does in Rust's.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An `AWS_LAMBDA_*` variable is missing or malformed.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// `AWS_LAMBDA_RUNTIME_API` is not an address this client can use.
    #[error("{0}")]
    RuntimeApi(#[from] EndpointError),
    /// The init phase returned an error or panicked.
    #[error("init failed with {error_type}: {message}")]
    Init {
        /// The `errorType` posted.
        error_type: String,
        /// The `errorMessage` posted.
        message: String,
    },
}

impl StartError {
    /// Prints `lamina-runtime: fatal: <why>` on stderr and exits 1: what [`run`](crate::run)
    /// and every serving method do when the runtime must stop.
    pub fn exit(self) -> ! {
        exit(FatalError::Start(self))
    }
}

/// Why the runtime stops. Every variant says what failed; the process then exits non-zero.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FatalError {
    #[error("{0}")]
    Start(#[from] StartError),
    #[error("GET {url} failed {attempts} times, giving up; last failure: {last}")]
    NextUnavailable {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("GET {url} answered {status}: {body}")]
    NextRejected {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} answered 500 (container error, the runtime must exit): {body}")]
    ContainerError { url: String, body: String },
    #[error("cannot run {slots} invocations at once (AWS_LAMBDA_MAX_CONCURRENCY): {message}")]
    Slots { slots: usize, message: String },
}

/// Prints why the runtime stops and exits non-zero. Stderr reaches the function's logs
/// whatever logger is installed.
pub(crate) fn exit(fatal: FatalError) -> ! {
    eprintln!("lamina-runtime: fatal: {fatal}");
    std::process::exit(1)
}

/// The JSON body of `POST /invocation/{id}/error` and `POST /init/error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "errorType")]
    pub(crate) error_type: String,
    #[serde(rename = "errorMessage")]
    pub(crate) error_message: String,
    /// Empty unless the handler gave frames ([`Error::with_stack_trace`]); Lambda requires the key.
    #[serde(rename = "stackTrace")]
    pub(crate) stack_trace: Vec<String>,
}

impl ErrorBody {
    /// A body whose type is made safe for an HTTP header: the type is sent both in the body
    /// and in `Lambda-Runtime-Function-Error-Type`, and both must be equal. Characters other
    /// than visible ASCII become `_`; an empty type becomes [`error_type::HANDLER`].
    pub(crate) fn new(error_type: impl AsRef<str>, message: impl Into<String>) -> Self {
        let mut error_type: String = error_type
            .as_ref()
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect();
        if error_type.is_empty() {
            error_type = error_type::HANDLER.into();
        }
        Self {
            error_type,
            error_message: message.into(),
            stack_trace: Vec::new(),
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // A struct of strings always serializes; the fallback only keeps this panic-free.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not load the price list")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn converted_errors_keep_their_chain_and_take_the_default_type() {
        let error: Error = Outer(std::io::Error::other("disk on fire")).into();
        assert_eq!(error.error_type(), None);
        let body = error.into_body(error_type::HANDLER);
        assert_eq!(body.error_type, "Handler.Error");
        assert_eq!(
            body.error_message,
            "could not load the price list: disk on fire"
        );
    }

    #[test]
    fn chosen_type_is_kept_and_made_header_safe() {
        let body = Error::new("Order.NotFound", "no order 42").into_body(error_type::HANDLER);
        assert_eq!(body.error_type, "Order.NotFound");
        let body = Error::new("Bad Type\n", "x").into_body(error_type::HANDLER);
        assert_eq!(body.error_type, "Bad_Type_");
        let body = Error::new("", "x").into_body(error_type::INIT);
        assert_eq!(body.error_type, "Handler.Error");
    }

    #[test]
    fn error_body_json_shape() {
        let body = Error::new("Order.NotFound", "no order \"42\"").into_body(error_type::HANDLER);
        insta::assert_snapshot!(String::from_utf8(body.to_json()).unwrap());
    }

    #[test]
    fn error_body_with_stack_trace() {
        let body = Error::new("ZeroDivisionError", "division by zero")
            .with_stack_trace([
                "  File \"/var/task/app.py\", line 3, in handler",
                "    1 / 0",
            ])
            .into_body(error_type::HANDLER);
        insta::assert_snapshot!(String::from_utf8(body.to_json()).unwrap());
    }
}
