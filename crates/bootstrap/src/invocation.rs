//! What a handler is given and what it gives back, independent of any transport.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The context of one invocation, as a handler sees it.
///
/// Mirrors the headers of `GET /runtime/invocation/next`; optional headers are `None` when the
/// service did not send them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`: the deadline in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_function_arn: String,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context` (JSON text).
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity` (JSON text).
    pub cognito_identity: Option<String>,
    /// `Lambda-Runtime-Aws-Tenant-Id`.
    pub tenant_id: Option<String>,
}

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

impl Invocation {
    /// The context as `(name, value)` pairs under the documented `LAMINA_*` names, absent
    /// optional values left out. Values never contain `\n` or `\r` (they would break the
    /// line-based encoding of the worker protocol), so any such byte is replaced by a space.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (names::REQUEST_ID, clean(&self.request_id)),
            (names::DEADLINE_MS, self.deadline_ms.to_string()),
            (names::FUNCTION_ARN, clean(&self.invoked_function_arn)),
        ];
        let optional = [
            (names::TRACE_ID, &self.trace_id),
            (names::CLIENT_CONTEXT, &self.client_context),
            (names::COGNITO_IDENTITY, &self.cognito_identity),
            (names::TENANT_ID, &self.tenant_id),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                pairs.push((name, clean(value)));
            }
        }
        pairs
    }

    /// The moment the bootstrap must give up on the handler: the deadline less `margin`, so the
    /// timeout error is posted before Lambda's own timer fires. A deadline already past gives
    /// `now`.
    pub fn cutoff(&self, margin: Duration) -> Instant {
        let now_instant = Instant::now();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let remaining_ms = u128::from(self.deadline_ms).saturating_sub(now_ms);
        let remaining = Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(u64::MAX));
        now_instant + remaining.saturating_sub(margin)
    }
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

impl std::fmt::Display for InvocationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for InvocationError {}

/// Runs one invocation at a time: event bytes and context in, response bytes or error out.
///
/// Implementations own whatever processes they need and keep them healthy between calls: an
/// error from one invocation never poisons the next.
pub trait Handler: Send {
    /// Handles one event. Returns before `invocation`'s deadline (less the configured margin),
    /// with a timeout error if the handler code did not finish in time.
    fn invoke(&mut self, event: &[u8], invocation: &Invocation)
    -> Result<Vec<u8>, InvocationError>;
}

impl<H: Handler + ?Sized> Handler for Box<H> {
    fn invoke(
        &mut self,
        event: &[u8],
        invocation: &Invocation,
    ) -> Result<Vec<u8>, InvocationError> {
        (**self).invoke(event, invocation)
    }
}

/// The error types the bootstrap itself reports (handlers pick their own).
pub mod error_types {
    /// The handler code ran past its deadline and was killed.
    pub const TIMEOUT: &str = "Runtime.HandlerTimeout";
    /// A worker process died (or closed its protocol pipe) during an invocation.
    pub const WORKER_EXITED: &str = "Runtime.ExitError";
    /// An executable handler exited with a non-zero status or was killed by a signal.
    pub const HANDLER_FAILED: &str = "HandlerError";
    /// A worker broke the framing of `PROTOCOL.md`.
    pub const PROTOCOL: &str = "Runtime.ProtocolError";
    /// The handler process could not be started.
    pub const START_FAILED: &str = "Runtime.StartError";
}
