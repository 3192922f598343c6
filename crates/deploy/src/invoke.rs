//! `invoke_remote`: calls the deployed function and decodes its log tail.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
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
/// the log tail (`LogType=Tail`).
pub async fn invoke_remote(
    client: &Client,
    name: &str,
    payload: Vec<u8>,
) -> Result<InvokeOutcome, DeployError> {
    let out = client
        .invoke()
        .function_name(name)
        .log_type(LogType::Tail)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| aws_error("Invoke", name, e))?;
    let log_tail = out.log_result().map(|b64| {
        match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            // Not base64: show it as sent rather than hide it.
            Err(_) => b64.to_string(),
        }
    });
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
