//! What a handler is given and what it gives back, independent of the Runtime API client.

use std::time::{Duration, Instant, UNIX_EPOCH};

pub use lamina_context::Context;

/// Names under which the context reaches handlers: environment variables for executables,
/// `NAME=value` lines of an `INVOKE` message for workers. Documented in the README and
/// `PROTOCOL.md`; changing one breaks users.
pub mod names {
    /// Request id.
    pub const REQUEST_ID: &str = "LAMINA_REQUEST_ID";
    /// Deadline, epoch milliseconds.
    pub const DEADLINE_MS: &str = "LAMINA_DEADLINE_MS";
    /// Invoked function ARN.
    pub const FUNCTION_ARN: &str = "LAMINA_FUNCTION_ARN";
    /// X-Ray trace header.
    pub const TRACE_ID: &str = "LAMINA_TRACE_ID";
    /// Client context JSON.
    pub const CLIENT_CONTEXT: &str = "LAMINA_CLIENT_CONTEXT";
    /// Cognito identity JSON.
    pub const COGNITO_IDENTITY: &str = "LAMINA_COGNITO_IDENTITY";
    /// Tenant id.
    pub const TENANT_ID: &str = "LAMINA_TENANT_ID";
    /// `Lambda-Runtime-Invocation-Id`: the delivery's nonce. The bootstrap echoes it itself
    /// (through the runtime); a worker only needs it to tell two deliveries of one request id
    /// apart, e.g. in its own logs.
    pub const INVOCATION_ID: &str = "LAMINA_INVOCATION_ID";
    /// Where AWS SDKs look for the trace header; set for executables alongside [`TRACE_ID`].
    pub const AMZN_TRACE_ID: &str = "_X_AMZN_TRACE_ID";
}

/// The context as `(name, value)` pairs under the documented `LAMINA_*` names, absent
/// optional values left out. JSON values (client context, identity) are written compactly
/// on one line. Values never contain `\n` or `\r` (they would break the line-based encoding
/// of the worker protocol), so any such character becomes a space.
pub fn context_variables(context: &Context) -> Vec<(&'static str, String)> {
    let deadline_ms = context
        .deadline()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut pairs = vec![
        (names::REQUEST_ID, clean(&context.request_id)),
        (names::DEADLINE_MS, deadline_ms.to_string()),
    ];
    let json = |value: &Option<serde_json::Value>| value.as_ref().map(|v| v.to_string());
    let optional = [
        (names::FUNCTION_ARN, context.invoked_function_arn.clone()),
        (names::TRACE_ID, context.trace_id.clone()),
        (names::CLIENT_CONTEXT, json(&context.client_context)),
        (names::COGNITO_IDENTITY, json(&context.identity)),
        (names::TENANT_ID, context.tenant_id.clone()),
        (names::INVOCATION_ID, context.invocation_id.clone()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            pairs.push((name, clean(&value)));
        }
    }
    pairs
}

/// The moment the bootstrap gives up on the handler: the deadline less `margin`, so the
/// timeout error is posted before Lambda's own timer fires. A deadline already past gives now.
pub fn cutoff(context: &Context, margin: Duration) -> Instant {
    Instant::now() + context.remaining_time().saturating_sub(margin)
}

fn clean(value: &str) -> String {
    value.replace(['\n', '\r'], " ")
}

/// A failed invocation: what goes into the body of `POST /runtime/invocation/{id}/error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationError {
    /// `errorType`, also sent as the `Lambda-Runtime-Function-Error-Type` header.
    pub error_type: String,
    /// `errorMessage`.
    pub message: String,
    /// `stackTrace`, one entry per line.
    pub stack_trace: Vec<String>,
}

impl InvocationError {
    /// An error with no stack trace.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            message: message.into(),
            stack_trace: Vec::new(),
        }
    }
}

impl InvocationError {
    /// This error cut so that its JSON fits in the trailers of a streamed response, as
    /// `lamina_runtime::stream::fit_error_for_trailers` cuts a Rust handler's: the one rule
    /// for every error sent after a stream's first byte. An error that fits is unchanged.
    pub fn fitted_for_trailers(mut self) -> Self {
        lamina_runtime::stream::fit_error_for_trailers(
            &mut self.error_type,
            &mut self.message,
            &mut self.stack_trace,
        );
        self
    }
}

impl std::fmt::Display for InvocationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for InvocationError {}

/// Where a handler's streamed response goes, piece by piece as the handler code produces it
/// (the Runtime API's streaming mode, in the bootstrap).
pub trait ResponseSink {
    /// Opens the stream with its content type; called once, before the first chunk.
    fn start(&mut self, content_type: &str) -> std::io::Result<()>;
    /// Sends `data` on at once.
    fn chunk(&mut self, data: &[u8]) -> std::io::Result<()>;
}

/// How an invocation was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// One response, posted whole (what every handler that does not stream gives).
    Buffered(Vec<u8>),
    /// The response went to the [`ResponseSink`] as it was produced, and is complete.
    Streamed,
}

/// A [`ResponseSink`] that keeps what it is sent: for callers that want the whole response,
/// streamed or not.
#[derive(Debug, Default)]
pub struct Collected {
    /// The content type the stream was opened with, if it was.
    pub content_type: Option<String>,
    /// Every chunk, in order, joined.
    pub body: Vec<u8>,
}

impl Collected {
    /// The whole response of `answer`, given with this as its sink: the buffered body, or
    /// what was streamed here.
    pub fn into_response(self, answer: Answer) -> Vec<u8> {
        match answer {
            Answer::Buffered(body) => body,
            Answer::Streamed => self.body,
        }
    }
}

impl ResponseSink for Collected {
    fn start(&mut self, content_type: &str) -> std::io::Result<()> {
        self.content_type = Some(content_type.to_owned());
        Ok(())
    }

    fn chunk(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.body.extend_from_slice(data);
        Ok(())
    }
}

/// Runs one invocation at a time: event bytes and context in, a response (whole, or streamed
/// to a sink) or an error out.
///
/// Implementations own whatever processes they need and keep them healthy between calls: an
/// error from one invocation never poisons the next.
pub trait Handler: Send + std::fmt::Debug {
    /// Handles one event. Returns before `context`'s deadline (less the configured margin),
    /// with a timeout error if the handler code did not finish in time. A handler that streams
    /// writes to `sink` and returns [`Answer::Streamed`]; an error after it started streaming
    /// ends the stream (Lambda sends it in the trailers).
    fn respond(
        &mut self,
        event: &[u8],
        context: &Context,
        sink: &mut dyn ResponseSink,
    ) -> Result<Answer, InvocationError>;

    /// Handles one event and returns the whole response, streamed or not.
    fn invoke(&mut self, event: &[u8], context: &Context) -> Result<Vec<u8>, InvocationError> {
        let mut collected = Collected::default();
        let answer = self.respond(event, context, &mut collected)?;
        Ok(collected.into_response(answer))
    }
}

impl<H: Handler + ?Sized> Handler for Box<H> {
    fn respond(
        &mut self,
        event: &[u8],
        context: &Context,
        sink: &mut dyn ResponseSink,
    ) -> Result<Answer, InvocationError> {
        (**self).respond(event, context, sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workers_long_error_is_cut_by_the_runtimes_rule() {
        let mut error = InvocationError::new("ValueError", "x".repeat(20_000));
        error.stack_trace = vec!["frame".into(); 2];
        let fitted = error.fitted_for_trailers();
        assert_eq!(fitted.error_type, "ValueError");
        assert_eq!(fitted.stack_trace, vec!["frame", "frame"]);
        insta::assert_snapshot!(
            fitted.message.trim_start_matches('x'),
            @" ... [cut from 20000 bytes: an error after a stream's first byte travels in an HTTP trailer]"
        );
    }
}
