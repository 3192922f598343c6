//! `invoke_remote` and `invoke_remote_stream`: call the deployed function (buffered, or
//! reading its response stream as it comes) and decode its log tail.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvokeWithResponseStreamResponseEvent as StreamEvent, LogType};
use base64::Engine as _;
use serde::Serialize;

use crate::DeployError;
use crate::error::aws_error;

/// What a synchronous invoke answered.
#[derive(Clone, Debug, Serialize)]
pub struct InvokeOutcome {
    /// The HTTP status (200 even when the function failed).
    pub status: i32,
    /// `Unhandled` (or `Handled`) when the function returned an error.
    pub function_error: Option<String>,
    /// The response (or the error JSON).
    pub payload: Vec<u8>,
    /// The last 4 KB of the log, decoded; `None` when the server sent none.
    pub log_tail: Option<String>,
    /// The version that ran.
    pub executed_version: Option<String>,
}

/// Invokes `name` (a name, `name:alias`, or an ARN) synchronously with `payload`, asking for
/// the log tail (`LogType=Tail`); `tenant` is the `TenantId` a function with tenant isolation
/// requires (and any other refuses).
pub async fn invoke_remote(
    client: &Client,
    name: &str,
    tenant: Option<&str>,
    payload: Vec<u8>,
) -> Result<InvokeOutcome, DeployError> {
    let out = client
        .invoke()
        .function_name(name)
        .set_tenant_id(tenant.map(str::to_string))
        .log_type(LogType::Tail)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| aws_error("Invoke", name, e))?;
    let log_tail = out.log_result().map(decode_log_tail);
    Ok(InvokeOutcome {
        status: out.status_code(),
        function_error: out.function_error().map(str::to_string),
        payload: out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default(),
        log_tail,
        executed_version: out.executed_version().map(str::to_string),
    })
}

/// The log tail AWS sends base64-encoded, as text.
fn decode_log_tail(b64: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // Not base64: show it as sent rather than hide it.
        Err(_) => b64.to_string(),
    }
}

/// How a streamed invoke ended; its bytes went to the caller's sink as they came.
#[derive(Clone, Debug, Serialize)]
pub struct StreamOutcome {
    /// The HTTP status (200 even when the function failed).
    pub status: i32,
    /// The stream's content type, as the function set it.
    pub content_type: Option<String>,
    /// `InvokeComplete`'s `ErrorCode` when the function failed, before or after its first
    /// byte (e.g. `Sandbox.Timedout`, or the function's own error type).
    pub error_code: Option<String>,
    /// `InvokeComplete`'s `ErrorDetails`: what the function said of its error.
    pub error_details: Option<String>,
    /// The last 4 KB of the log, decoded; `None` when the server sent none.
    pub log_tail: Option<String>,
    /// The version that ran.
    pub executed_version: Option<String>,
}

/// Invokes `name` with `InvokeWithResponseStream` and `payload`, asking for the log tail:
/// each `PayloadChunk` goes to `on_chunk` as it arrives, and `InvokeComplete` says how the
/// invocation ended. A stream cut before `InvokeComplete` is an error
/// ([`DeployError::StreamCut`]): what reached `on_chunk` may be incomplete. `tenant` as for
/// [`invoke_remote`].
pub async fn invoke_remote_stream(
    client: &Client,
    name: &str,
    tenant: Option<&str>,
    payload: Vec<u8>,
    on_chunk: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<StreamOutcome, DeployError> {
    const OPERATION: &str = "InvokeWithResponseStream";
    let mut out = client
        .invoke_with_response_stream()
        .function_name(name)
        .set_tenant_id(tenant.map(str::to_string))
        .log_type(LogType::Tail)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| aws_error(OPERATION, name, e))?;
    let mut outcome = StreamOutcome {
        status: out.status_code(),
        content_type: out.response_stream_content_type().map(str::to_string),
        error_code: None,
        error_details: None,
        log_tail: None,
        executed_version: out.executed_version().map(str::to_string),
    };
    loop {
        let event = out
            .event_stream
            .recv()
            .await
            .map_err(|e| aws_error(OPERATION, name, e))?;
        match event {
            Some(StreamEvent::PayloadChunk(chunk)) => {
                if let Some(bytes) = chunk.payload() {
                    on_chunk(bytes.as_ref());
                }
            }
            Some(StreamEvent::InvokeComplete(complete)) => {
                outcome.error_code = complete.error_code().map(str::to_string);
                outcome.error_details = complete.error_details().map(str::to_string);
                outcome.log_tail = complete.log_result().map(decode_log_tail);
                return Ok(outcome);
            }
            // An event this SDK does not know: newer than it, and not ours to read.
            Some(_) => {}
            None => {
                return Err(DeployError::StreamCut {
                    function: name.to_string(),
                });
            }
        }
    }
}
