//! The Runtime API (`/2018-06-01/runtime/...`) of one instance, as a bootstrap sees it.

use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use lamina_context::{facts, header};

use tokio::sync::mpsc;

use crate::http::{self, Body, BodyError};
use crate::invocation::StreamPart;

const PREFIX: &str = "/2018-06-01/runtime/";

/// The `errorType`s of the Runtime API's own refusals (to the runtime, never to a caller), as
/// AWS's Runtime API Emulator names them; only this module answers with them.
mod refusal {
    /// The request id is not a delivered invocation of this instance (400).
    pub const INVALID_REQUEST_ID: &str = "InvalidRequestID";
    /// The answer is for an invocation that timed out (410): AWS's `RenderInvokeTimeout`.
    pub const INVOKE_TIMEOUT: &str = "InvokeTimeout";
    /// The result or init error comes in the wrong phase (403).
    pub const INVALID_STATE_TRANSITION: &str = "InvalidStateTransition";
    /// The body is over the limit (413).
    pub const TOO_LARGE: &str = "RequestEntityTooLarge";
    /// The body could not be read to its end (400).
    pub const TRUNCATED: &str = "TruncatedHTTPRequest";
}

/// What the function answers a runtime's request with; this module turns it into HTTP, as
/// AWS's Runtime API words it.
pub enum RuntimeAnswer {
    /// `/next`: run this event.
    Event(Box<Delivery>),
    /// A result or init error is taken (202).
    Accepted,
    /// The instance is gone: the runtime must exit (500).
    ContainerError,
    /// The request id is not this instance's current invocation, or another answer to it is
    /// under way (400).
    InvalidRequestId,
    /// That invocation was answered already (403).
    AlreadyAnswered,
    /// That invocation timed out: the answer comes too late (410).
    InvokeTimeout,
    /// An init error after the init (403).
    InitErrorAfterInit,
    /// The result is over the payload limit of `limit` bytes (buffered or streamed); the
    /// invocation failed (413).
    TooLarge {
        /// The limit it passed, in bytes.
        limit: u64,
    },
    /// The result could not be read to its end; the invocation failed (400).
    Truncated,
}

/// An event handed to a runtime, with what its `/next` headers say.
pub struct Delivery {
    pub payload: Bytes,
    pub request_id: String,
    /// The nonce of this delivery, sent as `Lambda-Runtime-Invocation-Id`.
    pub invocation_id: String,
    /// Milliseconds since the epoch.
    pub deadline_ms: u128,
    pub function_arn: String,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    /// Sent as `Lambda-Runtime-Aws-Tenant-Id` (a function with tenant isolation).
    pub tenant_id: Option<String>,
}

/// How a streamed answer ended, as [`Backend::end_stream`] takes it.
pub(crate) enum StreamEnd {
    /// The whole body arrived, with no error trailer: the response (empty when every byte
    /// already went to a streaming caller).
    Response(Bytes),
    /// The error trailers: the type (decoded lossily) and the decoded body.
    Error { error_type: String, body: Vec<u8> },
    /// More than `limit` bytes were sent.
    TooLarge { limit: u64 },
    /// The body could not be read to its end, for this reason.
    Truncated(String),
}

/// The function behind an instance's Runtime API: what each request asks of it. The Runtime
/// API owns the HTTP; the function (`function/`) implements this, so neither side imports the
/// other's internals.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The instance's slots (`AWS_LAMBDA_MAX_CONCURRENCY`): its runtime's connections.
    fn slots(&self) -> usize;

    /// `GET /runtime/invocation/next` from instance `instance_id`: waits for an invocation.
    fn next_invocation(
        self: &Arc<Self>,
        instance_id: u64,
    ) -> impl Future<Output = RuntimeAnswer> + Send;

    /// `POST /runtime/invocation/{id}/response` with the whole response.
    ///
    /// `invocation_id` is the `Lambda-Runtime-Invocation-Id` the runtime echoed (`None`: it
    /// sent none, and the request id alone decides), here and in every method below.
    fn post_response(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        body: Bytes,
    ) -> RuntimeAnswer;

    /// `POST /runtime/invocation/{id}/error`.
    fn post_error(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        error_type: Option<&str>,
        body: &[u8],
    ) -> RuntimeAnswer;

    /// A streamed `/response` for `request_id` starts. `Ok` with where its bytes go as they
    /// arrive (`None` when the caller takes the whole answer at once): the stream must then
    /// end with [`Backend::end_stream`], and no other response is let in meanwhile. `Err`
    /// with the Runtime API's answer when the id is not this instance's delivered
    /// invocation, or another answer to it is under way.
    fn begin_stream(
        &self,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
    ) -> Result<Option<mpsc::Sender<StreamPart>>, RuntimeAnswer>;

    /// Ends the streamed answer [`Backend::begin_stream`] let in: the invocation ends with
    /// it, whatever it is.
    fn end_stream(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        end: StreamEnd,
    ) -> RuntimeAnswer;

    /// A whole `/response` (or, `is_error`, `/error`) whose body could not be read to its
    /// end: the invocation fails.
    fn answer_truncated(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        is_error: bool,
        reason: &str,
    ) -> RuntimeAnswer;

    /// A whole response above the buffered payload limit: the invocation fails.
    fn response_too_large(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
    ) -> RuntimeAnswer;

    /// `POST /runtime/init/error`.
    fn post_init_error(
        self: &Arc<Self>,
        instance_id: u64,
        error_type: Option<&str>,
        body: &[u8],
    ) -> RuntimeAnswer;
}

/// Serves instance `instance_id`'s own Runtime API on `listener` until aborted.
pub(crate) async fn serve<F: Backend>(
    function: Arc<F>,
    listener: tokio::net::TcpListener,
    instance_id: u64,
) {
    let slots = function.slots();
    http::serve(listener, slots, move |request, _peer| {
        handle(Arc::clone(&function), instance_id, request)
    })
    .await;
}

/// Answers one Runtime API request from instance `instance_id` of `function`.
async fn handle<F: Backend>(
    function: Arc<F>,
    instance_id: u64,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return not_found(&path);
    };
    let segments: Vec<&str> = route.split('/').collect();
    let method = request.method().clone();
    match segments.as_slice() {
        ["invocation", "next"] => {
            if method != Method::GET {
                return method_not_allowed(&method, &path);
            }
            to_http(function.next_invocation(instance_id).await)
        }
        ["invocation", request_id, kind @ ("response" | "error")] => {
            if method != Method::POST {
                return method_not_allowed(&method, &path);
            }
            let request_id = (*request_id).to_string();
            let kind = *kind;
            // Echoed by runtimes that know the nonce; empty counts as absent, as in `Context`.
            let echoed = http::header_text(request.headers(), header::INVOCATION_ID)
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_string);
            let invocation_id = echoed.as_deref();
            let streaming = http::header_text(request.headers(), header::FUNCTION_RESPONSE_MODE)
                .is_some_and(|mode| mode.eq_ignore_ascii_case("streaming"));
            if kind == "response" && streaming {
                return stream_response(
                    &function,
                    instance_id,
                    &request_id,
                    invocation_id,
                    request,
                )
                .await;
            }
            let error_type = lossy_header(request.headers(), header::FUNCTION_ERROR_TYPE);
            let body = match http::read_body(request, facts::MAX_SYNC_RESPONSE_BYTES).await {
                Ok(body) => body,
                Err(BodyError::TooLarge) => {
                    return to_http(function.response_too_large(
                        instance_id,
                        &request_id,
                        invocation_id,
                    ));
                }
                // The runtime's answer was delivered and cannot be read: the invocation fails
                // rather than waiting for, or being handed out for, another one.
                Err(BodyError::Broken) => {
                    return to_http(function.answer_truncated(
                        instance_id,
                        &request_id,
                        invocation_id,
                        kind == "error",
                        "its connection broke before the whole body arrived",
                    ));
                }
            };
            to_http(if kind == "response" {
                function.post_response(instance_id, &request_id, invocation_id, body)
            } else {
                function.post_error(
                    instance_id,
                    &request_id,
                    invocation_id,
                    error_type.as_deref(),
                    &body,
                )
            })
        }
        ["init", "error"] => {
            if method != Method::POST {
                return method_not_allowed(&method, &path);
            }
            let error_type = lossy_header(request.headers(), header::FUNCTION_ERROR_TYPE);
            match http::read_body(request, facts::MAX_SYNC_RESPONSE_BYTES).await {
                Ok(body) => {
                    to_http(function.post_init_error(instance_id, error_type.as_deref(), &body))
                }
                Err(BodyError::TooLarge) => http::runtime_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    refusal::TOO_LARGE,
                    &format!(
                        "Exceeded maximum allowed payload size ({} bytes).",
                        facts::MAX_SYNC_RESPONSE_BYTES
                    ),
                ),
                Err(BodyError::Broken) => broken_body(),
            }
        }
        _ => not_found(&path),
    }
}

/// `POST /runtime/invocation/{id}/response` in streaming mode (`Transfer-Encoding: chunked`,
/// `Lambda-Runtime-Function-Response-Mode: streaming`): each chunk goes on to a caller that
/// reads a stream as it arrives, or is gathered for one that takes the whole answer; an error
/// in the `Lambda-Runtime-Function-Error-Type`/`-Body` trailers fails the invocation with it,
/// whatever was sent before. Once it starts, the invocation ends with it, however it ends:
/// no other response is let in meanwhile, and a body that cannot be read to its end (a
/// broken connection, trailers over the server's limit) fails the invocation.
async fn stream_response<F: Backend>(
    function: &Arc<F>,
    instance_id: u64,
    request_id: &str,
    invocation_id: Option<&str>,
    request: Request<Incoming>,
) -> Response<Body> {
    let target = match function.begin_stream(instance_id, request_id, invocation_id) {
        Ok(target) => target,
        Err(answer) => return to_http(answer),
    };
    // From here the stream must end the invocation, even if this future is dropped.
    let mut open = OpenStream {
        function: Arc::clone(function),
        instance_id,
        request_id: request_id.to_string(),
        invocation_id: invocation_id.map(str::to_string),
        ended: false,
    };
    let content_type = http::header_text(request.headers(), "Content-Type")
        .unwrap_or("application/octet-stream")
        .to_string();
    // A streaming caller may read up to Lambda's streamed limit; one that waits for the whole
    // answer gets it buffered, within the buffered limit, as Lambda does.
    let limit = match &target {
        Some(target) => {
            let _ = target.send(StreamPart::Start { content_type }).await;
            facts::MAX_STREAMED_RESPONSE_BYTES
        }
        None => facts::MAX_SYNC_RESPONSE_BYTES as u64,
    };
    let mut body = request.into_body();
    let mut gathered = Vec::new();
    let mut total = 0u64;
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                drop(target);
                return to_http(open.end(StreamEnd::Truncated(error_chain(&error))));
            }
        };
        match frame.into_data() {
            Ok(data) => {
                total += data.len() as u64;
                if total > limit {
                    drop(target);
                    return to_http(open.end(StreamEnd::TooLarge { limit }));
                }
                match &target {
                    // A caller that went away stops reading; the function still finishes.
                    Some(target) => drop(target.send(StreamPart::Chunk(data)).await),
                    None => gathered.extend_from_slice(&data),
                }
            }
            Err(frame) => trailers = frame.into_trailers().ok().or(trailers),
        }
    }
    drop(target);
    // The type is taken as sent, decoded lossily: a byte outside ASCII must not turn a
    // failure into a success. An empty type is no error, as on AWS.
    if let Some(trailers) = trailers
        && let Some(error_type) = lossy_header(&trailers, header::FUNCTION_ERROR_TYPE)
        && !error_type.trim().is_empty()
    {
        let body = trailers
            .get(header::FUNCTION_ERROR_BODY)
            .and_then(|encoded| BASE64.decode(encoded.as_bytes().trim_ascii()).ok())
            .unwrap_or_default();
        return to_http(open.end(StreamEnd::Error { error_type, body }));
    }
    to_http(open.end(StreamEnd::Response(Bytes::from(gathered))))
}

/// A streamed answer under way: it ends the invocation once, when the stream ends or, if the
/// connection's future is dropped first, when it goes.
struct OpenStream<F: Backend> {
    function: Arc<F>,
    instance_id: u64,
    request_id: String,
    invocation_id: Option<String>,
    ended: bool,
}

impl<F: Backend> OpenStream<F> {
    fn end(&mut self, end: StreamEnd) -> RuntimeAnswer {
        self.ended = true;
        self.function.end_stream(
            self.instance_id,
            &self.request_id,
            self.invocation_id.as_deref(),
            end,
        )
    }
}

impl<F: Backend> Drop for OpenStream<F> {
    fn drop(&mut self) {
        if !self.ended {
            self.end(StreamEnd::Truncated(
                "the connection closed before the body ended".to_string(),
            ));
        }
    }
}

/// An error and its sources, joined by `: ` (hyper's own text names only the outer one).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A header's value as text, bytes outside UTF-8 replaced; `None` when absent.
fn lossy_header(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The function's answer as AWS's Runtime API sends it: status, body and, for an event, the
/// `Lambda-Runtime-*` headers.
fn to_http(answer: RuntimeAnswer) -> Response<Body> {
    match answer {
        RuntimeAnswer::Event(delivery) => event(*delivery),
        RuntimeAnswer::Accepted => http::json(StatusCode::ACCEPTED, r#"{"status":"OK"}"#),
        RuntimeAnswer::ContainerError => http::runtime_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            facts::error_type::CONTAINER,
            "Container error. Non-recoverable state. Runtime should exit promptly.",
        ),
        RuntimeAnswer::InvalidRequestId => http::runtime_error(
            StatusCode::BAD_REQUEST,
            refusal::INVALID_REQUEST_ID,
            "Invalid request ID",
        ),
        RuntimeAnswer::AlreadyAnswered => http::runtime_error(
            StatusCode::FORBIDDEN,
            refusal::INVALID_STATE_TRANSITION,
            "State transition from Ready to InvocationResponse failed for runtime. Error: State transition is not allowed",
        ),
        // AWS's answer to a result for an invocation that already timed out (RIE's
        // `RenderInvokeTimeout`; AWS's .NET client logs it and goes on to the next event).
        RuntimeAnswer::InvokeTimeout => {
            http::runtime_error(StatusCode::GONE, refusal::INVOKE_TIMEOUT, "Invoke timeout")
        }
        RuntimeAnswer::InitErrorAfterInit => http::runtime_error(
            StatusCode::FORBIDDEN,
            refusal::INVALID_STATE_TRANSITION,
            "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed",
        ),
        RuntimeAnswer::TooLarge { limit } => http::runtime_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            refusal::TOO_LARGE,
            &format!("Exceeded maximum allowed payload size ({limit} bytes)."),
        ),
        // AWS's answer to a response it could not read whole (RIE's `TruncatedHTTPRequest`).
        RuntimeAnswer::Truncated => http::runtime_error(
            StatusCode::BAD_REQUEST,
            refusal::TRUNCATED,
            "HTTP request detected as truncated",
        ),
    }
}

/// `/next`'s answer: the event, with its id, deadline, ARN, trace id and client data.
fn event(delivery: Delivery) -> Response<Body> {
    let mut response = http::json(StatusCode::OK, delivery.payload);
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.insert(name, value);
        }
    };
    set(header::REQUEST_ID, &delivery.request_id);
    set(header::INVOCATION_ID, &delivery.invocation_id);
    set(header::DEADLINE_MS, &delivery.deadline_ms.to_string());
    set(header::INVOKED_FUNCTION_ARN, &delivery.function_arn);
    set(header::TRACE_ID, &delivery.trace_id);
    if let Some(client_context) = &delivery.client_context {
        set(header::CLIENT_CONTEXT, client_context);
    }
    if let Some(identity) = &delivery.cognito_identity {
        set(header::COGNITO_IDENTITY, identity);
    }
    if let Some(tenant_id) = &delivery.tenant_id {
        set(header::TENANT_ID, tenant_id);
    }
    response
}

fn not_found(path: &str) -> Response<Body> {
    http::runtime_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("No Runtime API route for {path}"),
    )
}

fn method_not_allowed(method: &Method, path: &str) -> Response<Body> {
    http::runtime_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("{method} is not allowed on {path}"),
    )
}

fn broken_body() -> Response<Body> {
    http::runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestBody",
        "The request body could not be read",
    )
}
