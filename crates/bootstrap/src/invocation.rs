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

/// Most bytes of an error's JSON (`{"errorType","errorMessage","stackTrace"}`) sent after a
/// stream's first byte. Such an error travels base64-encoded in an HTTP trailer, and HTTP
/// servers bound a trailer section as they bound headers (hyper, serving the local Runtime
/// API, refuses more than 16 KiB): 8 KiB of JSON is 10,924 bytes of base64, which leaves room
/// for the type trailer. A 20,000-byte traceback sent whole was refused, and the invocation
/// was never answered.
pub(crate) const MAX_STREAMED_ERROR_JSON_BYTES: usize = 8 * 1024;

/// Longest `errorType` kept in an error sent after a stream's first byte, in bytes.
const MAX_STREAMED_ERROR_TYPE_BYTES: usize = 256;

/// The JSON of an empty error: `{"errorType":"","errorMessage":"","stackTrace":[]}`.
const EMPTY_ERROR_JSON_BYTES: usize = 50;

impl InvocationError {
    /// This error cut so that its JSON fits in [`MAX_STREAMED_ERROR_JSON_BYTES`], as it must
    /// to travel in the trailers of a streamed response: the type to 256 bytes, then the
    /// stack trace to at most half of the room left (its first frames, and a line saying how
    /// many were left out), then the message to the rest, ending with a note of its length.
    /// An error that fits is unchanged.
    pub fn fitted_for_trailers(self) -> Self {
        self.fitted(MAX_STREAMED_ERROR_JSON_BYTES)
    }

    fn fitted(mut self, max: usize) -> Self {
        if self.error_type.len() > MAX_STREAMED_ERROR_TYPE_BYTES {
            let cut = prefix_within(
                &self.error_type,
                MAX_STREAMED_ERROR_TYPE_BYTES,
                char::len_utf8,
            );
            self.error_type.truncate(cut);
        }
        if self.json_len() <= max {
            return self;
        }
        let room = max.saturating_sub(EMPTY_ERROR_JSON_BYTES + escaped_len(&self.error_type));
        // Each frame costs its escaped text, its quotes and a comma.
        let frame_cost = |frame: &str| escaped_len(frame) + 3;
        let stack_cost: usize = self.stack_trace.iter().map(|f| frame_cost(f)).sum();
        if stack_cost > room / 2 {
            let total = self.stack_trace.len();
            // Room for the note, whatever the count.
            let note_cost = frame_cost(&format!("... {total} more frames left out"));
            let mut used = note_cost;
            let kept = self
                .stack_trace
                .iter()
                .take_while(|frame| {
                    used += frame_cost(frame);
                    used <= room / 2
                })
                .count();
            self.stack_trace.truncate(kept);
            if note_cost <= room / 2 {
                self.stack_trace
                    .push(format!("... {} more frames left out", total - kept));
            }
        }
        let stack_cost: usize = self.stack_trace.iter().map(|f| frame_cost(f)).sum();
        let message_room = room.saturating_sub(stack_cost);
        if escaped_len(&self.message) > message_room {
            let note = format!(
                " ... [cut from {} bytes: an error after a stream's first byte travels in an HTTP trailer]",
                self.message.len()
            );
            let keep = message_room.saturating_sub(escaped_len(&note));
            let cut = prefix_within(&self.message, keep, escaped_char_len);
            self.message.truncate(cut);
            if escaped_len(&note) <= message_room {
                self.message.push_str(&note);
            }
        }
        self
    }

    /// The length of this error's JSON.
    fn json_len(&self) -> usize {
        // Each frame: its escaped text and quotes, and a comma between two.
        let frames: usize = self
            .stack_trace
            .iter()
            .map(|frame| escaped_len(frame) + 3)
            .sum();
        EMPTY_ERROR_JSON_BYTES
            + escaped_len(&self.error_type)
            + escaped_len(&self.message)
            + frames.saturating_sub(1)
    }
}

/// How many bytes `c` takes inside a JSON string (serde_json's escapes).
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// How many bytes `text` takes inside a JSON string, without its quotes.
fn escaped_len(text: &str) -> usize {
    text.chars().map(escaped_char_len).sum()
}

/// The byte length of the longest prefix of `text` whose chars cost at most `budget`.
fn prefix_within(text: &str, budget: usize, cost: impl Fn(char) -> usize) -> usize {
    let mut spent = 0;
    for (at, c) in text.char_indices() {
        spent += cost(c);
        if spent > budget {
            return at;
        }
    }
    text.len()
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

/// The error types the bootstrap itself reports (handlers pick their own).
pub mod error_types {
    /// The handler code ran past its deadline and was killed.
    pub const TIMEOUT: &str = "Runtime.HandlerTimeout";
    /// A worker process died (or closed its protocol pipe) during an invocation.
    pub const WORKER_EXITED: &str = lamina_context::facts::error_type::EXIT;
    /// An executable handler exited with a non-zero status or was killed by a signal.
    pub const HANDLER_FAILED: &str = "HandlerError";
    /// A worker broke the framing of `PROTOCOL.md`, answered with a missing or wrong id, or
    /// wrote on its reply pipe between invocations.
    pub const PROTOCOL: &str = "Runtime.ProtocolError";
    /// The handler process could not be started.
    pub const START_FAILED: &str = "Runtime.StartError";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(error: &InvocationError) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "errorType": error.error_type,
            "errorMessage": error.message,
            "stackTrace": error.stack_trace,
        }))
        .unwrap_or_default()
    }

    #[test]
    fn the_length_counted_is_the_json_length() {
        let mut error = InvocationError::new("Type\"x", "a\u{1}b\nc\u{e9}\\");
        error.stack_trace = vec!["f\t1".into(), "\"f2\"".into()];
        assert_eq!(error.json_len(), json_of(&error).len());
        assert_eq!(
            InvocationError::new("", "").json_len(),
            EMPTY_ERROR_JSON_BYTES
        );
    }

    #[test]
    fn an_error_that_fits_is_unchanged() {
        let mut error = InvocationError::new("ValueError", "x".repeat(1000));
        error.stack_trace = vec!["frame".into(); 10];
        assert_eq!(error.clone().fitted_for_trailers(), error);
    }

    #[test]
    fn a_long_error_is_cut_to_fit_and_says_so() {
        let cases = [
            (
                "x".repeat(20_000),
                vec!["  File \"/var/task/handler.py\", line 3".to_string(); 3],
            ),
            ("\u{1}\u{e9}\"".repeat(5_000), Vec::new()),
            ("short".to_string(), vec!["f".repeat(100); 1000]),
            ("m".repeat(9_000), vec!["\n".repeat(3_000)]),
        ];
        for (message, stack) in cases {
            let mut error = InvocationError::new("T".repeat(1000), message);
            error.stack_trace = stack;
            let fitted = error.clone().fitted_for_trailers();
            let json = json_of(&fitted);
            assert!(
                json.len() <= MAX_STREAMED_ERROR_JSON_BYTES,
                "{}",
                json.len()
            );
            assert!(
                json.len() > MAX_STREAMED_ERROR_JSON_BYTES / 2,
                "{}",
                json.len()
            );
            assert_eq!(fitted.error_type.len(), MAX_STREAMED_ERROR_TYPE_BYTES);
            if fitted.message != error.message {
                assert!(fitted.message.contains("cut from"), "{}", fitted.message);
                assert!(
                    error
                        .message
                        .starts_with(fitted.message.split(" ... [cut").next().unwrap_or_default())
                );
            }
            if fitted.stack_trace != error.stack_trace {
                let note = fitted.stack_trace.last().cloned().unwrap_or_default();
                assert!(note.ends_with("more frames left out"), "{note}");
            }
        }
        let mut error = InvocationError::new("ValueError", "x".repeat(20_000));
        error.stack_trace = vec!["frame".into(); 2];
        let fitted = error.fitted_for_trailers();
        assert_eq!(fitted.stack_trace, vec!["frame", "frame"]);
        insta::assert_snapshot!(
            fitted.message.trim_start_matches('x'),
            @" ... [cut from 20000 bytes: an error after a stream's first byte travels in an HTTP trailer]"
        );
    }
}
