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
    /// Most connections open at once, so that connections that never finish cannot exhaust
    /// descriptors and memory. At the cap a new connection closes the one idle longest (see
    /// [`Connections`]); only when every connection is being answered is the new one closed.
    pub max_connections: usize,
}

/// The open connections of one listener and which of them may be closed to make room.
///
/// A connection is *idle* while it waits for a request (it has sent nothing yet, or is between
/// requests) or while it sends a request's body; it is *busy* from the moment its request is
/// whole until its answer is sent. At the cap a newcomer closes an idle one, never a busy one:
/// first the one that has waited longest without ever sending a request, else the one idle
/// longest; one with a request waiting to be read is not idle. So a client that holds
/// connections open, or reconnects as fast as they are closed, only ever closes idle ones (its
/// own first), and a caller that connects and sends its request is answered. Without this, 1,000 idle connections (or one client
/// reconnecting as fast as it was closed) kept every other caller out.
struct Connections {
    max: usize,
    state: std::sync::Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    /// Ticks on every change: orders idle connections by how long they have been idle.
    clock: u64,
    next_id: u64,
    /// Each open connection.
    open: std::collections::HashMap<u64, Open>,
    /// The idle connections in the order they are closed to make room: `(sent, since, id)`,
    /// those that never sent a request first (nothing says a caller is behind them, while a
    /// kept-alive connection is a caller's, to be reused), then the longest idle.
    idle: std::collections::BTreeSet<(bool, u64, u64)>,
}

/// One open connection in the [`Registry`].
struct Open {
    /// `Some(since)` when idle, `None` when busy.
    since: Option<u64>,
    /// Whether it has sent a request.
    sent: bool,
    /// Closes it.
    close: tokio::sync::oneshot::Sender<()>,
    /// Its socket, to see whether a request is waiting to be read (valid while registered:
    /// a connection leaves the registry before its socket is closed).
    fd: std::os::fd::RawFd,
}

/// How many of the idle connections, oldest first, a newcomer looks at for one to close.
const EVICTION_CANDIDATES: usize = 64;

/// Whether the peer has sent bytes the server has not read yet on `fd`: a request on its
/// way in, so the connection is not idle even if it was a moment ago.
fn has_unread_bytes(fd: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into `byte`, without consuming it (MSG_PEEK) or waiting.
    let read = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    read > 0
}

impl Connections {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // The registry holds no invariant a panic could break halfway that matters more than
        // serving on.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new connection, idle, closing the one idle longest if at the cap. `None`:
    /// every connection is busy and the newcomer is refused. The receiver fires (or closes)
    /// when the connection is to be closed.
    fn admit(&self, fd: std::os::fd::RawFd) -> Option<(u64, tokio::sync::oneshot::Receiver<()>)> {
        let mut registry = self.registry();
        if registry.open.len() >= self.max {
            // The one idle longest with no request waiting to be read: a caller whose request
            // has arrived but not yet been read (its task not yet run) is not idle.
            let victim = registry
                .idle
                .iter()
                .take(EVICTION_CANDIDATES)
                .find(|(_, _, id)| {
                    registry
                        .open
                        .get(id)
                        .is_some_and(|open| !has_unread_bytes(open.fd))
                })
                .copied()?;
            registry.idle.remove(&victim);
            if let Some(open) = registry.open.remove(&victim.2) {
                let _ = open.close.send(());
            }
        }
        registry.clock += 1;
        registry.next_id += 1;
        let (id, since) = (registry.next_id, registry.clock);
        let (close, closed) = tokio::sync::oneshot::channel();
        registry.open.insert(
            id,
            Open {
                since: Some(since),
                sent: false,
                close,
                fd,
            },
        );
        registry.idle.insert((false, since, id));
        Some((id, closed))
    }

    /// Marks `id` idle from now (its answer is sent, or its request body is still coming).
    fn idle(&self, id: u64) {
        let mut registry = self.registry();
        registry.clock += 1;
        let now = registry.clock;
        let Some(open) = registry.open.get_mut(&id) else {
            return;
        };
        let before = open.since.replace(now);
        let sent = open.sent;
        if let Some(before) = before {
            registry.idle.remove(&(sent, before, id));
        }
        registry.idle.insert((sent, now, id));
    }

    /// Marks `id` busy: its request is being answered, and it is not closed to make room.
    fn busy(&self, id: u64) {
        let mut registry = self.registry();
        let Some(open) = registry.open.get_mut(&id) else {
            return;
        };
        let sent = std::mem::replace(&mut open.sent, true);
        if let Some(before) = open.since.take() {
            registry.idle.remove(&(sent, before, id));
        }
    }

    /// Forgets `id`, closed.
    fn remove(&self, id: u64) {
        let mut registry = self.registry();
        if let Some(Open {
            since: Some(since),
            sent,
            ..
        }) = registry.open.remove(&id)
        {
            registry.idle.remove(&(sent, since, id));
        }
    }
}

/// Which connection a request came on, in its extensions: [`read_body`] marks the connection
/// idle while the body comes (a client trickling a body is not being answered yet).
#[derive(Clone)]
struct Activity {
    connections: Arc<Connections>,
    id: u64,
}

/// A response body that marks its connection idle again once it is sent (or dropped).
struct Tracked {
    inner: Body,
    activity: Activity,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.connections.idle(self.activity.id);
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A Runtime API listener serves one instance's runtime, whose connections idle while the
/// function works (for up to Lambda's 900 s timeout): no header timeout, which would close
/// them under a client that means to reuse them, only a cap. A runtime with `slots`
/// invocations at once (`AWS_LAMBDA_MAX_CONCURRENCY`, up to Managed Instances' 1,600) keeps
/// up to two connections per slot (one polling `/next` and posting results, one streaming a
/// response), and a few more come and go: 64 beyond them.
fn runtime_api_limits(slots: usize) -> Limits {
    Limits {
        header_read_timeout: None,
        max_connections: slots.max(1).saturating_mul(2).saturating_add(64),
    }
}

/// Accepts connections on `listener` forever, answering each request with `handler`, with
/// the Runtime API's limits for a runtime serving `slots` invocations at once.
pub async fn serve<H, F>(listener: TcpListener, slots: usize, handler: H)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    serve_with(listener, runtime_api_limits(slots), handler).await;
}

/// Accepts connections on `listener` forever, answering each request with `handler`, within
/// `limits`.
pub async fn serve_with<H, F>(listener: TcpListener, limits: Limits, handler: H)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let connections = Arc::new(Connections {
        max: limits.max_connections,
        state: std::sync::Mutex::new(Registry::default()),
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Running out of descriptors and similar are transient: wait a little, keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Every connection busy: the newcomer is closed at once rather than waiting in a
        // queue behind answers that may take up to the functions' timeouts.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        let Some((id, closed)) = connections.admit(fd) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let activity = Activity {
            connections: Arc::clone(&connections),
            id,
        };
        tokio::spawn(async move {
            let service = {
                let activity = activity.clone();
                service_fn(move |mut request: Request<Incoming>| {
                    activity.connections.busy(activity.id);
                    request.extensions_mut().insert(activity.clone());
                    let response = handler(request, peer);
                    let activity = activity.clone();
                    async move {
                        let response = response.await;
                        Ok::<_, Infallible>(response.map(|inner| Tracked { inner, activity }))
                    }
                })
            };
            let mut builder = http1::Builder::new();
            builder.title_case_headers(true);
            if let Some(timeout) = limits.header_read_timeout {
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(timeout);
            }
            let mut connection = Box::pin(builder.serve_connection(TokioIo::new(stream), service));
            // A client that hangs up or speaks bad HTTP only ends its own connection; one
            // closed to make room is dropped where it stands (it was idle).
            tokio::select! {
                _ = &mut connection => {}
                _ = closed => {}
            }
            // Out of the registry before its socket closes, so its descriptor is never
            // looked at once reused.
            activity.connections.remove(activity.id);
            drop(connection);
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
    let activity = request.extensions().get::<Activity>().cloned();
    // While the body comes the connection counts as idle (from its last bytes): a client
    // trickling a body cannot hold a place the way one being answered does.
    let touch = || {
        if let Some(activity) = &activity {
            activity.connections.idle(activity.id);
        }
    };
    touch();
    let result = read_whole_body(request, limit, &touch).await;
    if let Some(activity) = &activity {
        activity.connections.busy(activity.id);
    }
    result
}

async fn read_whole_body(
    request: Request<Incoming>,
    limit: usize,
    touch: &impl Fn(),
) -> Result<Bytes, BodyError> {
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
        touch();
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

/// A Runtime API error answer, e.g. 400 `InvalidRequestID`.
pub fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    json(
        status,
        lamina_context::facts::error_body(error_type, message),
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
