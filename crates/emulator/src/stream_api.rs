//! `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`),
//! as AWS answers it: 200 at once with the function's content type, then an event stream of
//! `PayloadChunk` events as the function's bytes arrive, then one `InvokeComplete` saying how
//! the invocation ended (its error code and details, and the log tail when asked). A function
//! that answers buffered is sent as one chunk; an error before or after the first byte is
//! reported in `InvokeComplete`, as AWS does, never as a successful end.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use crate::event_stream::{InvokeComplete, payload_chunks};
use crate::function::Function;
use crate::http::{self, Body};
use crate::invocation::{Completion, Invocation, StreamPart};

/// Chunks in flight between the function and a slow caller before the function waits: the
/// caller's pace holds the function back rather than the emulator's memory growing.
pub(crate) const IN_FLIGHT: usize = 16;

/// Runs `invocation` for a caller reading a stream; `answer` receives its completion.
pub async fn answer(
    function: &Arc<Function>,
    mut invocation: Invocation,
    answer: oneshot::Receiver<Completion>,
    tail: bool,
) -> Response<Body> {
    let request_id = invocation.request_id.clone();
    let (parts_in, mut parts) = mpsc::channel(IN_FLIGHT);
    invocation.stream = Some(parts_in);
    function.enqueue(invocation);
    // The answer's headers wait for the function's first move: its content type, or its end.
    let first = parts.recv().await;
    let content_type = match &first {
        Some(StreamPart::Start { content_type }) => content_type.clone(),
        _ => "application/json".to_string(),
    };
    let (bytes_out, body) = mpsc::channel(IN_FLIGHT);
    tokio::spawn(async move {
        let send = |bytes: Vec<u8>| {
            let bytes_out = bytes_out.clone();
            async move { bytes_out.send(Bytes::from(bytes)).await.is_ok() }
        };
        let mut reading = true;
        let mut next = first;
        while let Some(part) = next {
            if let StreamPart::Chunk(chunk) = part
                && reading
            {
                // A caller that hung up stops reading; the function is drained to its end.
                reading = send(payload_chunks(&chunk)).await;
            }
            next = parts.recv().await;
        }
        let Ok(completion) = answer.await else {
            return;
        };
        let mut complete = InvokeComplete {
            log_result: tail.then(|| BASE64.encode(&completion.log_tail)),
            ..InvokeComplete::default()
        };
        if completion.function_error {
            let (code, details) = error_of(&completion.body);
            complete.error_code = Some(code);
            complete.error_details = Some(details);
        } else if !completion.body.is_empty() {
            // A buffered answer to a streaming caller: one chunk of the whole.
            send(payload_chunks(&completion.body)).await;
        }
        send(complete.encode()).await;
    });
    let mut response = Response::new(http::streamed(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    for (name, value) in [
        ("Content-Type", content_type.as_str()),
        ("X-Amzn-RequestId", request_id.as_str()),
        ("X-Amz-Executed-Version", "$LATEST"),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

/// `ErrorCode` and `ErrorDetails` of a function error's body (`{"errorType","errorMessage"}`).
fn error_of(body: &[u8]) -> (String, String) {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| parsed.get(key).and_then(|v| v.as_str()).map(str::to_string);
    (
        text("errorType").unwrap_or_else(|| "Unhandled".to_string()),
        text("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_gives_its_type_and_message() {
        assert_eq!(
            error_of(br#"{"errorType":"Stream.Broke","errorMessage":"gone"}"#),
            ("Stream.Broke".to_string(), "gone".to_string())
        );
        assert_eq!(
            error_of(b"not json"),
            ("Unhandled".to_string(), "not json".to_string())
        );
    }
}
