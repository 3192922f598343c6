//! The front door: plain HTTP requests made into the events Lambda's HTTP front doors send
//! (Function URL by default; API Gateway REST or ALB on request), and the function's answer
//! made into the HTTP response they would send back. Served under `/lambda-url/<function>/...`
//! on the Invoke API's port, as `cargo lambda watch` does, and at `/` on a port of its own for
//! one function ([`crate::EmulatorConfig::http_port`]).
//!
//! The mapping is pure ([`event`], [`answer`]); this module only reads the request, runs the
//! invocation like any other and writes the response.

mod answer;
pub(crate) mod event;
mod streamed;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use lamina_context::facts;
use tokio::sync::oneshot;

pub use answer::answer;
pub use event::{HttpEventKind, HttpRequest, Origin, event};

use crate::config::Tenancy;
use crate::function::Function;
use crate::http::{self, Body, BodyError};
use crate::invocation::{Invocation, StreamPart};
use crate::shared::Shared;

/// Where the front door answers on the Invoke API's port: `/lambda-url/<function>/<path>`.
pub const PREFIX: &str = "/lambda-url/";

/// Answers `/lambda-url/<function>/<path>?<query>` for the function named.
pub async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    kind: HttpEventKind,
    host: String,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(function) = http::percent_decode(name).and_then(|name| shared.resolve(&name)) else {
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "No function named {name:?} behind {PREFIX}: the URL is {PREFIX}<function>/<path>"
            ),
        );
    };
    serve(&function, request, &format!("/{tail}"), kind, &host).await
}

/// Runs `function` for `request`, seen by the function at `path`.
pub async fn serve(
    function: &Arc<Function>,
    request: Request<Incoming>,
    path: &str,
    kind: HttpEventKind,
    host: &str,
) -> Response<Body> {
    // With tenant isolation, the tenant passes through as the integration in front of the
    // function passes it (`X-Amz-Tenant-Id` on its Invoke call), checked as Invoke checks
    // it. Without, the header is only one of the request's, as any other.
    let tenant_id = match function.config.tenancy {
        Tenancy::Shared => None,
        tenancy => match crate::tenancy::tenant_id(request.headers(), tenancy) {
            Ok(tenant_id) => tenant_id,
            Err(refusal) => return refusal.into_response(),
        },
    };
    let method = request.method().as_str().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match http::read_body(request, facts::MAX_SYNC_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The request is over Lambda's payload limit of {} bytes",
                    facts::MAX_SYNC_REQUEST_BYTES
                ),
            );
        }
        Err(BodyError::Broken) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "The request body could not be read".into(),
            );
        }
    };
    let (responder, completed) = oneshot::channel();
    let mut invocation = Invocation::new(Bytes::new(), Some(responder));
    invocation.tenant_id = tenant_id;
    let now = SystemTime::now();
    let http_request = HttpRequest {
        method: &method,
        path,
        query: &query,
        headers,
        body: &body,
    };
    let origin = Origin {
        function: &function.config.name,
        host,
        request_id: &invocation.request_id,
        epoch_ms: now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        time: &clf_time(now),
    };
    let payload = event(kind, &http_request, &origin);
    if payload.len() > facts::MAX_SYNC_REQUEST_BYTES {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The request's event is over Lambda's payload limit of {} bytes",
                facts::MAX_SYNC_REQUEST_BYTES
            ),
        );
    }
    invocation.payload = Bytes::from(payload);
    if function.config.response_streaming && kind == HttpEventKind::FunctionUrl {
        let (parts_in, mut parts) = tokio::sync::mpsc::channel(16);
        invocation.stream = Some(parts_in);
        function.enqueue(invocation);
        // The function streams (its first move is a start), or answers whole (nothing comes
        // before its completion, and it is answered as a buffered one).
        if let Some(StreamPart::Start { content_type }) = parts.recv().await {
            return streamed::response(content_type, parts).await;
        }
    } else {
        function.enqueue(invocation);
    }
    let Ok(completion) = completed.await else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "The emulator is shutting down".into(),
        );
    };
    answer(kind, &completion.body, completion.function_error).into_response()
}

fn plain(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(http::full(message));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    response
}

/// `03/Dec/2026:10:00:00 +0000`, the request time format of API Gateway's events.
fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = lamina_context::time::utc_date(time);
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    let month = usize::try_from(month).unwrap_or(1).clamp(1, 12);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[month - 1],
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_times_are_in_api_gateways_format() {
        let time = UNIX_EPOCH + std::time::Duration::from_secs(1_796_292_000 + 3_661);
        assert_eq!(clf_time(time), "03/Dec/2026:11:01:01 +0000");
    }
}
