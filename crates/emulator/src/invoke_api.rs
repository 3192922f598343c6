//! The Invoke API (`POST /2015-03-31/functions/{name}/invocations`), as AWS answers it.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use lamina_context::facts;
use tokio::sync::oneshot;

use crate::asynchronous::{Event, Full};
use crate::function::Function;
use crate::http::{self, Body, BodyError};
use crate::invocation::{Completion, Invocation};
use crate::shared::Shared;

const PREFIX: &str = "/2015-03-31/functions/";
const SUFFIX: &str = "/invocations";
/// `InvokeWithResponseStream`.
const STREAM_PREFIX: &str = "/2021-11-15/functions/";
const STREAM_SUFFIX: &str = "/response-streaming-invocations";

/// Header through which a caller may pass a Cognito identity (JSON, or base64 of JSON).
/// AWS derives it from the caller's credentials; the emulator has none, so it takes a header.
pub const COGNITO_IDENTITY_HEADER: &str = "X-Amz-Cognito-Identity";

/// How the caller wants the function run (`X-Amz-Invocation-Type`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

/// Answers one Invoke API request.
pub async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let front_door = path.starts_with(crate::front_door::PREFIX);
    // The front door is a function's URL, which pages of any origin may call, as on AWS; the
    // Invoke API is the user's own.
    if let Some(refusal) = shared.access.refusal(request.headers(), !front_door) {
        return refusal;
    }
    if front_door {
        let host = http::header_text(request.headers(), "Host")
            .unwrap_or("127.0.0.1")
            .to_string();
        let kind = shared.http_event;
        return crate::front_door::handle(shared, request, kind, host).await;
    }
    let buffered = path
        .strip_prefix(PREFIX)
        .and_then(|p| p.strip_suffix(SUFFIX));
    let streamed = path
        .strip_prefix(STREAM_PREFIX)
        .and_then(|p| p.strip_suffix(STREAM_SUFFIX));
    let streaming = streamed.is_some();
    let raw_name = match buffered.or(streamed) {
        Some(name) if request.method() == Method::POST && !name.contains('/') => name,
        _ => {
            return http::service_error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                &format!("Unknown operation {} {path}", request.method()),
            );
        }
    };
    let Some(name) = http::percent_decode(raw_name) else {
        return http::service_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &format!("The function name in {path} is not valid percent-encoded UTF-8"),
        );
    };
    let Some(function) = shared.resolve(&name) else {
        return http::service_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!(
                "Function not found: arn:aws:lambda:{}:{}:function:{name}",
                facts::DEFAULT_REGION,
                facts::LOCAL_ACCOUNT_ID
            ),
        );
    };
    let headers = request.headers();
    let invocation_type = match header_choice(headers, "X-Amz-Invocation-Type") {
        None => InvocationType::RequestResponse,
        Some(value) if value == "RequestResponse" => InvocationType::RequestResponse,
        Some(value) if value == "Event" && !streaming => InvocationType::Event,
        Some(value) if value == "DryRun" => InvocationType::DryRun,
        Some(other) => {
            return http::service_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!(
                    "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not {other:?}"
                ),
            );
        }
    };
    let tail = match header_choice(headers, "X-Amz-Log-Type") {
        None => false,
        Some(value) if value == "None" => false,
        Some(value) if value == "Tail" => true,
        Some(other) => {
            return http::service_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("X-Amz-Log-Type must be None or Tail, not {other:?}"),
            );
        }
    };
    let client_context = match headers.get("X-Amz-Client-Context") {
        None => None,
        // AWS documents the limit, not the words of its refusal: the nearest error AWS gives.
        Some(value) if value.len() > facts::MAX_CLIENT_CONTEXT_BYTES => {
            return http::service_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!(
                    "Client context must be at most {} bytes of base64-encoded data, not {}.",
                    facts::MAX_CLIENT_CONTEXT_BYTES,
                    value.len()
                ),
            );
        }
        Some(value) => match decode_json_header(value, true) {
            Some(json) => Some(json),
            None => {
                return http::service_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    "Client context must be a valid Base64-encoded JSON object.",
                );
            }
        },
    };
    let cognito_identity = match headers.get(COGNITO_IDENTITY_HEADER) {
        None => None,
        Some(value) => match decode_json_header(value, false) {
            Some(json) => Some(json),
            None => {
                return http::service_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    "X-Amz-Cognito-Identity must be a JSON object, plain or Base64-encoded.",
                );
            }
        },
    };
    let declared_length =
        http::header_text(headers, "Content-Length").and_then(|length| length.parse::<u64>().ok());
    let payload = match http::read_body(request, facts::MAX_SYNC_REQUEST_BYTES).await {
        Ok(payload)
            if invocation_type == InvocationType::Event
                && payload.len() > facts::MAX_ASYNC_PAYLOAD_BYTES =>
        {
            return event_too_large(Some(payload.len() as u64));
        }
        Ok(payload) => payload,
        Err(BodyError::TooLarge) if invocation_type == InvocationType::Event => {
            return event_too_large(declared_length);
        }
        Err(BodyError::TooLarge) => return payload_too_large(),
        Err(BodyError::Broken) => {
            return http::service_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "The request body could not be read",
            );
        }
    };
    let payload = match check_payload(payload) {
        Ok(payload) => payload,
        Err(message) => {
            return http::service_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &message,
            );
        }
    };
    if invocation_type == InvocationType::DryRun {
        return http::empty(StatusCode::NO_CONTENT);
    }

    if invocation_type == InvocationType::Event {
        let event = Event {
            payload,
            client_context,
            cognito_identity,
        };
        return match shared.asynchronous.submit(function, event) {
            Ok(request_id) => {
                let mut response = http::empty(StatusCode::ACCEPTED);
                set_header(&mut response, "X-Amzn-RequestId", &request_id);
                response
            }
            Err(full) => queue_full(&full),
        };
    }

    let (tx, answer) = oneshot::channel();
    let mut invocation = Invocation::new(payload, Some(tx));
    invocation.client_context = client_context;
    invocation.cognito_identity = cognito_identity;
    let request_id = invocation.request_id.clone();
    if streaming {
        return crate::stream_api::answer(&function, invocation, answer, tail).await;
    }
    function.enqueue(invocation);
    match answer.await {
        Ok(completion) => completion_response(&function, &request_id, completion, tail),
        Err(_) => http::service_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "The emulator is shutting down",
        ),
    }
}

/// The 413 AWS gives for an oversized payload.
pub fn payload_too_large() -> Response<Body> {
    http::service_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        &format!(
            "Request must be smaller than {} bytes for the InvokeFunction operation",
            facts::MAX_SYNC_REQUEST_BYTES
        ),
    )
}

/// The 413 AWS gives for an `Event` payload over the asynchronous limit, in AWS's words;
/// `size` is unknown when the body was too large to read.
fn event_too_large(size: Option<u64>) -> Response<Body> {
    let size = size.map_or_else(|| "The".to_string(), |size| format!("{size} byte"));
    http::service_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        &format!(
            "{size} payload is too large for the Event invocation type (limit {} bytes)",
            facts::MAX_ASYNC_PAYLOAD_BYTES
        ),
    )
}

/// AWS's throttling answer, given when the asynchronous queue has no room for an event.
fn queue_full(full: &Full) -> Response<Body> {
    http::service_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        &format!(
            "Rate Exceeded. The local Lambda's queue of asynchronous invocations is full \
             (at most {} events and {} bytes of payload waiting or running); retry later",
            full.max_events, full.max_bytes
        ),
    )
}

/// The payload Lambda hands the function: `{}` for an empty one; anything else must be JSON.
pub fn check_payload(payload: Bytes) -> Result<Bytes, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    if let Err(err) = std::str::from_utf8(&payload) {
        return Err(format!(
            "Could not parse request body into json: invalid UTF-8 at byte {}",
            err.valid_up_to()
        ));
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
        Ok(_) => Ok(payload),
        Err(err) => Err(format!("Could not parse request body into json: {err}")),
    }
}

fn completion_response(
    _function: &Function,
    request_id: &str,
    completion: Completion,
    tail: bool,
) -> Response<Body> {
    let mut response = http::json(StatusCode::OK, completion.body);
    set_header(&mut response, "X-Amzn-RequestId", request_id);
    set_header(&mut response, "X-Amz-Executed-Version", "$LATEST");
    if completion.function_error {
        set_header(&mut response, "X-Amz-Function-Error", "Unhandled");
    }
    if tail {
        set_header(
            &mut response,
            "X-Amz-Log-Result",
            &BASE64.encode(completion.log_tail),
        );
    }
    response
}

/// A header's value for matching against its allowed values: a value that is not text is
/// kept (lossily) so it is refused by name rather than taken as absent.
fn header_choice<'a>(
    headers: &'a hyper::HeaderMap,
    name: &str,
) -> Option<std::borrow::Cow<'a, str>> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
}

fn set_header(response: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// A header holding a JSON object (base64-encoded when `base64_only`), re-serialised
/// compactly so it fits in one header line.
fn decode_json_header(value: &HeaderValue, base64_only: bool) -> Option<String> {
    let raw = value.as_bytes();
    let parse = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
            .ok()
            .and_then(|object| serde_json::to_string(&object).ok())
    };
    if !base64_only && let Some(json) = parse(raw) {
        return Some(json);
    }
    parse(&BASE64.decode(raw).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_json_or_empty() {
        assert_eq!(&check_payload(Bytes::new()).unwrap_or_default()[..], b"{}");
        assert_eq!(
            &check_payload(Bytes::from_static(b" \n")).unwrap_or_default()[..],
            b"{}"
        );
        assert!(check_payload(Bytes::from_static(b"[1, 2]")).is_ok());
        let err = check_payload(Bytes::from_static(b"{nope"))
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("Could not parse request body into json"),
            "{err}"
        );
    }

    #[test]
    fn json_headers_decode() {
        let encoded = BASE64.encode(br#"{ "custom": {"k": "v"} }"#);
        let value = HeaderValue::from_str(&encoded).unwrap_or(HeaderValue::from_static(""));
        assert_eq!(
            decode_json_header(&value, true).as_deref(),
            Some(r#"{"custom":{"k":"v"}}"#)
        );
        assert_eq!(
            decode_json_header(&HeaderValue::from_static("{\"a\":1}"), true),
            None
        );
        assert_eq!(
            decode_json_header(&HeaderValue::from_static("{\"a\":1}"), false).as_deref(),
            Some(r#"{"a":1}"#)
        );
        assert_eq!(
            decode_json_header(&HeaderValue::from_static("!!"), true),
            None
        );
    }
}
