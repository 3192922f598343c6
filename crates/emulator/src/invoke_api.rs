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
use crate::config::Tenancy;
use crate::function::Function;
use crate::http::{self, Body, BodyError};
use crate::invocation::{Completion, Invocation};
use crate::refusal::Refusal;
use crate::shared::Shared;
use crate::tenancy::tenant_id;

const PREFIX: &str = "/2015-03-31/functions/";
const SUFFIX: &str = "/invocations";
/// `InvokeWithResponseStream`.
const STREAM_PREFIX: &str = "/2021-11-15/functions/";
const STREAM_SUFFIX: &str = "/response-streaming-invocations";

/// Header through which a caller may pass a Cognito identity (JSON, or base64 of JSON).
/// AWS derives it from the caller's credentials; the emulator has none, so it takes a header.
pub const COGNITO_IDENTITY_HEADER: &str = "X-Amz-Cognito-Identity";

/// How the caller wants the function run (`X-Amz-Invocation-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

/// The function an Invoke API path names, and how it is to answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The function's name (or ARN, or `name:qualifier`), percent-decoded.
    name: String,
    /// `InvokeWithResponseStream` rather than `Invoke`.
    streaming: bool,
}

/// What an invocation's headers ask, each checked as AWS checks it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    invocation_type: InvocationType,
    /// `X-Amz-Log-Type: Tail`.
    tail: bool,
    /// Compact JSON, decoded from base64.
    client_context: Option<String>,
    /// Compact JSON.
    cognito_identity: Option<String>,
    /// `Content-Length`, when given: the size named when an `Event` is too large to read.
    declared_length: Option<u64>,
    /// `X-Amz-Tenant-Id`: present exactly when the function has tenant isolation.
    tenant_id: Option<String>,
}

/// Which operation and function `method` and `path` name (the front door is told apart
/// before). Pure.
pub(crate) fn target(method: &Method, path: &str) -> Result<Target, Refusal> {
    let buffered = path
        .strip_prefix(PREFIX)
        .and_then(|p| p.strip_suffix(SUFFIX));
    let streamed = path
        .strip_prefix(STREAM_PREFIX)
        .and_then(|p| p.strip_suffix(STREAM_SUFFIX));
    let raw_name = match buffered.or(streamed) {
        Some(name) if method == Method::POST && !name.contains('/') => name,
        _ => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!("Unknown operation {method} {path}"),
            ));
        }
    };
    let name = http::percent_decode(raw_name).ok_or_else(|| {
        Refusal::bad_parameter(format!(
            "The function name in {path} is not valid percent-encoded UTF-8"
        ))
    })?;
    Ok(Target {
        name,
        streaming: streamed.is_some(),
    })
}

/// AWS's 404 for a name that is no function here.
fn not_found(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!(
            "Function not found: arn:aws:lambda:{}:{}:function:{name}",
            facts::DEFAULT_REGION,
            facts::LOCAL_ACCOUNT_ID
        ),
    )
}

/// What the headers of an invocation (`streaming`: `InvokeWithResponseStream`, which has no
/// `Event` type) ask, in the order AWS checks them. Pure.
pub(crate) fn options(
    headers: &hyper::HeaderMap,
    streaming: bool,
    tenancy: Tenancy,
) -> Result<Options, Refusal> {
    let invocation_type = match header_choice(headers, "X-Amz-Invocation-Type") {
        None => InvocationType::RequestResponse,
        Some(value) if value == "RequestResponse" => InvocationType::RequestResponse,
        Some(value) if value == "Event" && !streaming => InvocationType::Event,
        Some(value) if value == "DryRun" => InvocationType::DryRun,
        Some(other) => {
            return Err(Refusal::bad_parameter(format!(
                "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not {other:?}"
            )));
        }
    };
    let tail = match header_choice(headers, "X-Amz-Log-Type") {
        None => false,
        Some(value) if value == "None" => false,
        Some(value) if value == "Tail" => true,
        Some(other) => {
            return Err(Refusal::bad_parameter(format!(
                "X-Amz-Log-Type must be None or Tail, not {other:?}"
            )));
        }
    };
    let client_context = match headers.get("X-Amz-Client-Context") {
        None => None,
        // AWS documents the limit, not the words of its refusal: the nearest error AWS gives.
        Some(value) if value.len() > facts::MAX_CLIENT_CONTEXT_BYTES => {
            return Err(Refusal::bad_content(format!(
                "Client context must be at most {} bytes of base64-encoded data, not {}.",
                facts::MAX_CLIENT_CONTEXT_BYTES,
                value.len()
            )));
        }
        Some(value) => Some(decode_json_header(value, true).ok_or_else(|| {
            Refusal::bad_content("Client context must be a valid Base64-encoded JSON object.")
        })?),
    };
    let cognito_identity = match headers.get(COGNITO_IDENTITY_HEADER) {
        None => None,
        Some(value) => Some(decode_json_header(value, false).ok_or_else(|| {
            Refusal::bad_content(
                "X-Amz-Cognito-Identity must be a JSON object, plain or Base64-encoded.",
            )
        })?),
    };
    let declared_length =
        http::header_text(headers, "Content-Length").and_then(|length| length.parse::<u64>().ok());
    let tenant_id = tenant_id(headers, tenancy)?;
    Ok(Options {
        invocation_type,
        tail,
        client_context,
        cognito_identity,
        declared_length,
        tenant_id,
    })
}

/// The payload the function gets, from the body as read within the synchronous limit: over
/// the asynchronous limit for an `Event`, too large, cut short or not JSON is refused. Pure.
pub(crate) fn payload(read: Result<Bytes, BodyError>, options: &Options) -> Result<Bytes, Refusal> {
    let event = options.invocation_type == InvocationType::Event;
    let payload = match read {
        Ok(payload) if event && payload.len() > facts::MAX_ASYNC_PAYLOAD_BYTES => {
            return Err(event_too_large(Some(payload.len() as u64)));
        }
        Ok(payload) => payload,
        Err(BodyError::TooLarge) if event => return Err(event_too_large(options.declared_length)),
        Err(BodyError::TooLarge) => return Err(payload_too_large()),
        Err(BodyError::Broken) => {
            return Err(Refusal::bad_content("The request body could not be read"));
        }
    };
    check_payload(payload).map_err(Refusal::bad_content)
}

/// Answers one Invoke API request: the decisions above, then the effects (reading the body,
/// queueing, waiting for the answer).
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
    match invoke(&shared, request, &path).await {
        Ok(response) | Err(response) => response,
    }
}

/// An invocation through the Invoke API: `Err` holds a refusal already made an answer.
async fn invoke(
    shared: &Shared,
    request: Request<Incoming>,
    path: &str,
) -> Result<Response<Body>, Response<Body>> {
    let refused = Refusal::into_response;
    let Target { name, streaming } = target(request.method(), path).map_err(refused)?;
    let function = shared
        .resolve(&name)
        .ok_or_else(|| not_found(&name).into_response())?;
    let options =
        options(request.headers(), streaming, function.config.tenancy).map_err(refused)?;
    let read = http::read_body(request, facts::MAX_SYNC_REQUEST_BYTES).await;
    let payload = payload(read, &options).map_err(refused)?;
    let Options {
        invocation_type,
        tail,
        client_context,
        cognito_identity,
        tenant_id,
        ..
    } = options;
    match invocation_type {
        InvocationType::DryRun => return Ok(http::empty(StatusCode::NO_CONTENT)),
        InvocationType::Event => {
            let event = Event {
                payload,
                client_context,
                cognito_identity,
                tenant_id,
            };
            return Ok(match shared.asynchronous.submit(function, event) {
                Ok(request_id) => {
                    let mut response = http::empty(StatusCode::ACCEPTED);
                    set_header(&mut response, "X-Amzn-RequestId", &request_id);
                    response
                }
                Err(full) => queue_full(&full),
            });
        }
        InvocationType::RequestResponse => {}
    }
    let (tx, answer) = oneshot::channel();
    let mut invocation = Invocation::new(payload, Some(tx));
    invocation.client_context = client_context;
    invocation.cognito_identity = cognito_identity;
    invocation.tenant_id = tenant_id;
    let request_id = invocation.request_id.clone();
    if streaming {
        return Ok(crate::stream_api::answer(&function, invocation, answer, tail).await);
    }
    function.enqueue(invocation);
    Ok(match answer.await {
        Ok(completion) => completion_response(&function, &request_id, completion, tail),
        Err(_) => http::service_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "The emulator is shutting down",
        ),
    })
}

/// The 413 AWS gives for an oversized payload.
fn payload_too_large() -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        format!(
            "Request must be smaller than {} bytes for the InvokeFunction operation",
            facts::MAX_SYNC_REQUEST_BYTES
        ),
    )
}

/// The 413 AWS gives for an `Event` payload over the asynchronous limit, in AWS's words;
/// `size` is unknown when the body was too large to read.
fn event_too_large(size: Option<u64>) -> Refusal {
    let size = size.map_or_else(|| "The".to_string(), |size| format!("{size} byte"));
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        format!(
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

    /// A refusal as one line: status, error type, message.
    fn shown(refusal: Refusal) -> String {
        format!(
            "{} {}: {}",
            refusal.status.as_u16(),
            refusal.error_type,
            refusal.message
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> hyper::HeaderMap {
        let mut map = hyper::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("?")),
            );
        }
        map
    }

    #[test]
    fn paths_name_an_operation_and_a_function() {
        assert_eq!(
            target(&Method::POST, "/2015-03-31/functions/my%2Dfn/invocations"),
            Ok(Target {
                name: "my-fn".into(),
                streaming: false
            })
        );
        assert_eq!(
            target(
                &Method::POST,
                "/2021-11-15/functions/f/response-streaming-invocations"
            ),
            Ok(Target {
                name: "f".into(),
                streaming: true
            })
        );
        let refused =
            |method: &Method, path: &str| target(method, path).err().map(shown).unwrap_or_default();
        insta::assert_snapshot!(
            refused(&Method::GET, "/2015-03-31/functions/f/invocations"),
            @"404 UnknownOperationException: Unknown operation GET /2015-03-31/functions/f/invocations"
        );
        insta::assert_snapshot!(
            refused(&Method::POST, "/2015-03-31/functions/a/b/invocations"),
            @"404 UnknownOperationException: Unknown operation POST /2015-03-31/functions/a/b/invocations"
        );
        insta::assert_snapshot!(
            refused(&Method::POST, "/2015-03-31/functions/%FF/invocations"),
            @"400 InvalidParameterValueException: The function name in /2015-03-31/functions/%FF/invocations is not valid percent-encoded UTF-8"
        );
        insta::assert_snapshot!(
            shown(not_found("nope")),
            @"404 ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
        );
    }

    #[test]
    fn headers_are_checked_in_awss_order() {
        let ok = options(
            &headers(&[
                ("x-amz-invocation-type", "Event"),
                ("x-amz-log-type", "Tail"),
                ("x-amz-client-context", &BASE64.encode(br#"{"a": 1}"#)),
                ("x-amz-cognito-identity", r#"{"id": "x"}"#),
                ("content-length", "12"),
            ]),
            false,
            Tenancy::Shared,
        );
        assert_eq!(
            ok,
            Ok(Options {
                invocation_type: InvocationType::Event,
                tail: true,
                client_context: Some(r#"{"a":1}"#.into()),
                cognito_identity: Some(r#"{"id":"x"}"#.into()),
                declared_length: Some(12),
                tenant_id: None,
            })
        );
        let refused = |pairs: &[(&'static str, &str)], streaming: bool| {
            options(&headers(pairs), streaming, Tenancy::Shared)
                .err()
                .map(shown)
                .unwrap_or_default()
        };
        insta::assert_snapshot!(
            refused(&[("x-amz-invocation-type", "Event")], true),
            @r#"400 InvalidParameterValueException: X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not "Event""#
        );
        insta::assert_snapshot!(
            refused(&[("x-amz-invocation-type", "Bogus"), ("x-amz-log-type", "Full")], false),
            @r#"400 InvalidParameterValueException: X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not "Bogus""#
        );
        insta::assert_snapshot!(
            refused(&[("x-amz-log-type", "Full")], false),
            @r#"400 InvalidParameterValueException: X-Amz-Log-Type must be None or Tail, not "Full""#
        );
        let long = "a".repeat(facts::MAX_CLIENT_CONTEXT_BYTES + 1);
        insta::assert_snapshot!(
            refused(&[("x-amz-client-context", &long)], false),
            @"400 InvalidRequestContentException: Client context must be at most 3583 bytes of base64-encoded data, not 3584."
        );
        insta::assert_snapshot!(
            refused(&[("x-amz-client-context", "{}")], false),
            @"400 InvalidRequestContentException: Client context must be a valid Base64-encoded JSON object."
        );
        insta::assert_snapshot!(
            refused(&[("x-amz-cognito-identity", "[1]")], false),
            @"400 InvalidRequestContentException: X-Amz-Cognito-Identity must be a JSON object, plain or Base64-encoded."
        );
    }

    #[test]
    fn payloads_are_refused_by_their_limit_and_shape() {
        let with = |invocation_type, declared_length| Options {
            invocation_type,
            tail: false,
            client_context: None,
            cognito_identity: None,
            declared_length,
            tenant_id: None,
        };
        let sync = with(InvocationType::RequestResponse, None);
        assert_eq!(
            payload(Ok(Bytes::new()), &sync),
            Ok(Bytes::from_static(b"{}"))
        );
        let refused =
            |read, options: &Options| payload(read, options).err().map(shown).unwrap_or_default();
        let over_async = Bytes::from(vec![b' '; facts::MAX_ASYNC_PAYLOAD_BYTES + 1]);
        assert_eq!(
            payload(Ok(over_async.clone()), &sync),
            Ok(Bytes::from_static(b"{}"))
        );
        insta::assert_snapshot!(
            refused(Ok(over_async), &with(InvocationType::Event, None)),
            @"413 RequestEntityTooLargeException: 1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
        );
        insta::assert_snapshot!(
            refused(Err(BodyError::TooLarge), &with(InvocationType::Event, Some(7_000_000))),
            @"413 RequestEntityTooLargeException: 7000000 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
        );
        insta::assert_snapshot!(
            refused(Err(BodyError::TooLarge), &sync),
            @"413 RequestEntityTooLargeException: Request must be smaller than 6291456 bytes for the InvokeFunction operation"
        );
        insta::assert_snapshot!(
            refused(Err(BodyError::Broken), &sync),
            @"400 InvalidRequestContentException: The request body could not be read"
        );
        insta::assert_snapshot!(
            refused(Ok(Bytes::from_static(b"{nope")), &sync),
            @"400 InvalidRequestContentException: Could not parse request body into json: key must be a string at line 1 column 2"
        );
    }

    #[test]
    fn a_tenant_is_required_exactly_by_a_per_tenant_function() {
        let tenant = |pairs: &[(&'static str, &str)], tenancy: Tenancy| match tenant_id(
            &headers(pairs),
            tenancy,
        ) {
            Ok(tenant) => format!("{tenant:?}"),
            Err(refusal) => shown(refusal),
        };
        assert_eq!(
            tenant(&[("x-amz-tenant-id", "blue")], Tenancy::PerTenant),
            r#"Some("blue")"#
        );
        assert_eq!(tenant(&[], Tenancy::Shared), "None");
        insta::assert_snapshot!(
            tenant(&[], Tenancy::PerTenant),
            @"400 InvalidParameterValueException: Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled."
        );
        insta::assert_snapshot!(
            tenant(&[("x-amz-tenant-id", "blue")], Tenancy::Shared),
            @"400 InvalidParameterValueException: Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled."
        );
        assert_eq!(
            tenant(
                &[("x-amz-tenant-id", "org:1/a b@c=d+e-f_g.h")],
                Tenancy::PerTenant
            ),
            r#"Some("org:1/a b@c=d+e-f_g.h")"#
        );
        insta::assert_snapshot!(
            tenant(&[("x-amz-tenant-id", "a;b")], Tenancy::PerTenant),
            @r"400 ValidationException: 1 validation error detected: Value 'a;b' at 'tenantId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9\._:\/=+\-@ ]+"
        );
        insta::assert_snapshot!(
            tenant(&[("x-amz-tenant-id", &"a".repeat(257))], Tenancy::PerTenant).replace(&"a".repeat(257), "a×257"),
            @"400 ValidationException: 1 validation error detected: Value 'a×257' at 'tenantId' failed to satisfy constraint: Member must have length less than or equal to 256"
        );
        let options = options(
            &headers(&[("x-amz-tenant-id", "blue")]),
            true,
            Tenancy::PerTenant,
        );
        assert_eq!(options.map(|o| o.tenant_id), Ok(Some("blue".to_string())));
    }
}
