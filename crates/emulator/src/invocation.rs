//! One request to run the function, as the Invoke API, the front door and the asynchronous
//! queue hand it to a function, and what its caller gets back: the vocabulary shared by the
//! callers' side and the function (`function/`), which imports none of them.

use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::ids;

/// One request to run the function.
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// Compact JSON, passed as `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
    /// Compact JSON, passed as `Lambda-Runtime-Cognito-Identity`.
    pub cognito_identity: Option<String>,
    pub trace_id: String,
    /// `X-Amz-Tenant-Id`, passed as `Lambda-Runtime-Aws-Tenant-Id`: on a function with tenant
    /// isolation, only instances of this tenant run it.
    pub tenant_id: Option<String>,
    /// `None` for `Event` invocations: nobody waits for the result.
    pub responder: Option<oneshot::Sender<Completion>>,
    /// Where a streamed response goes as it arrives, for a caller that reads it as a stream
    /// (`InvokeWithResponseStream`); `None` for callers that take the whole answer at once.
    pub stream: Option<tokio::sync::mpsc::Sender<StreamPart>>,
}

/// What a caller reading a streamed response gets before the invocation's [`Completion`].
pub enum StreamPart {
    /// The runtime started streaming with this content type.
    Start {
        /// The response's `Content-Type`.
        content_type: String,
    },
    /// The next bytes of the response.
    Chunk(Bytes),
}

impl Invocation {
    /// A new invocation of `payload` with fresh ids.
    pub fn new(payload: Bytes, responder: Option<oneshot::Sender<Completion>>) -> Self {
        Invocation {
            request_id: ids::request_id(),
            payload,
            client_context: None,
            cognito_identity: None,
            trace_id: ids::trace_id(SystemTime::now()),
            tenant_id: None,
            responder,
            stream: None,
        }
    }
}

/// The answer to one invocation.
pub struct Completion {
    /// The response, or the error JSON when `function_error` is set.
    pub body: Bytes,
    /// The invocation failed (`X-Amz-Function-Error: Unhandled`).
    pub function_error: bool,
    /// The last 4 KiB of this invocation's log.
    pub log_tail: String,
}
