//! Small HTTP helpers shared by the Invoke API and the Runtime API servers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// A response body: complete in memory ([`full`]) for every answer but a streamed one
/// ([`streamed`]), whose bytes leave as they arrive.
pub type Body = BoxBody<Bytes, Infallible>;

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A body whose bytes are what `parts` receives, sent as they come, ending when every sender
/// is gone.
pub fn streamed(parts: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    ChannelBody { parts }.boxed()
}

/// The body behind [`streamed`].
struct ChannelBody {
    parts: tokio::sync::mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.parts
            .poll_recv(context)
            .map(|part| part.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }
}

/// What one listener allows its clients.
#[derive(Clone, Copy)]
pub struct Limits {
    /// Close a connection that has not sent a whole request head this long after starting
    /// one or after its last answer; `None`: wait forever.
    pub header_read_timeout: Option<Duration>,
    /// Most connections open at once; one more is closed as soon as it is accepted, so that
    /// connections that never finish cannot exhaust descriptors and memory.
    pub max_connections: usize,
}

/// A Runtime API listener serves one instance's runtime, whose few connections idle while
/// the function works (for up to Lambda's 900 s timeout): no header timeout, which would
/// close them under a client that means to reuse them, only a cap.
const RUNTIME_API_LIMITS: Limits = Limits {
    header_read_timeout: None,
    max_connections: 64,
};

/// Accepts connections on `listener` forever, answering each request with `handler`, with
/// the Runtime API's limits.
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    serve_with(listener, RUNTIME_API_LIMITS, handler).await;
}

/// Accepts connections on `listener` forever, answering each request with `handler`, within
/// `limits`.
pub async fn serve_with<H, F>(listener: TcpListener, limits: Limits, handler: H)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let open = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Running out of descriptors and similar are transient: wait a little, keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Over the cap the connection is dropped at once: the client sees it closed rather
        // than waiting in a queue behind connections that may never finish.
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request| {
                let response = handler(request, peer);
                async move { Ok::<_, Infallible>(response.await) }
            });
            let mut builder = http1::Builder::new();
            builder.title_case_headers(true);
            if let Some(timeout) = limits.header_read_timeout {
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(timeout);
            }
            // A client that hangs up or speaks bad HTTP only ends its own connection.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Why a request body could not be read.
pub enum BodyError {
    /// More than the limit: the caller answers 413.
    TooLarge,
    /// The connection failed while reading.
    Broken,
}

/// A client sending more than this is cut off rather than drained.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads the whole body, refusing one longer than `limit` bytes. An oversized body is still
/// read (and dropped, up to 64 MiB) so the client, which is still sending, gets the 413.
pub async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = request.into_body();
    if declared.is_some_and(|length| length > DRAIN_LIMIT) {
        return Err(BodyError::TooLarge);
    }
    let mut collected: Vec<u8> = Vec::new();
    let mut too_large = declared.is_some_and(|length| length > limit as u64);
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > DRAIN_LIMIT {
                return Err(BodyError::TooLarge);
            }
            if too_large || collected.len() + data.len() > limit {
                too_large = true;
                collected = Vec::new();
                continue;
            }
            collected.extend_from_slice(&data);
        }
    }
    if too_large {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(collected))
}

/// A response with a JSON body.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An empty response.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The error body shape of the Runtime API and of function errors: `{"errorMessage","errorType"}`.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    #[serde(rename = "errorMessage")]
    pub message: &'a str,
    #[serde(rename = "errorType")]
    pub error_type: &'a str,
}

impl ErrorBody<'_> {
    /// The body as JSON bytes.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// A Runtime API error answer, e.g. 400 `InvalidRequestID`.
pub fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    json(
        status,
        ErrorBody {
            message,
            error_type,
        }
        .to_bytes(),
    )
}

/// An Invoke API (AWS service) error: `x-amzn-ErrorType` header and `{"Type","message"}` body.
pub fn service_error(
    status: StatusCode,
    error_type: &'static str,
    message: &str,
) -> Response<Body> {
    #[derive(Serialize)]
    struct ServiceError<'a> {
        #[serde(rename = "Type")]
        kind: &'a str,
        message: &'a str,
    }
    let kind = if status.is_server_error() {
        "Service"
    } else {
        "User"
    };
    let body = serde_json::to_vec(&ServiceError { kind, message }).unwrap_or_default();
    let mut response = json(status, body);
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    response
}

/// A header's value as text, if present and visible ASCII.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Decodes `%XX` escapes (e.g. an ARN's `%3A`); `None` on a malformed escape or non-UTF-8 result.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_arns_and_rejects_junk() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda").as_deref(),
            Some("arn:aws:lambda")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%4"), None);
        assert_eq!(percent_decode("%ff%fe"), None);
    }
}
