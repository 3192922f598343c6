//! Streaming handlers: the handler writes its response to a [`ResponseStream`], and each
//! write leaves for the Runtime API as one chunk at once.

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use lamina_context::Context;

use crate::chunked::ChunkedPost;
use crate::error::{Error, ErrorBody, error_type};
use crate::logger::set_request_id;
use crate::serve::{Connection, FatalError, export_trace_id, panic_message, within_limit};
use crate::stream::{HTTP_INTEGRATION_CONTENT_TYPE, HttpPrelude, MAX_STREAMED_RESPONSE_BYTES};

/// Content type of a streamed response unless the handler chooses one.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Where a streaming handler writes its response. Each `write` is sent to the Runtime API as
/// one HTTP chunk as soon as it is called (so the caller gets the first byte before the
/// handler returns); wrap it in a [`std::io::BufWriter`] to send fewer, larger chunks.
///
/// The request to Lambda starts with the first byte written. An error the handler returns
/// before that is posted to `/error` as for a buffered handler; after it, the error is sent
/// in the `Lambda-Runtime-Function-Error-Type`/`-Body` trailers and the caller sees the
/// bytes already sent, then the error.
///
/// A write that would pass [`MAX_STREAMED_RESPONSE_BYTES`] fails (nothing of it is sent) and
/// the invocation ends as `Runtime.ResponseTooLarge` whatever the handler returns.
pub struct ResponseStream {
    base: String,
    path: String,
    /// The delivery's `Lambda-Runtime-Invocation-Id`, echoed on the streamed POST.
    invocation_id: Option<String>,
    content_type: String,
    post: Option<ChunkedPost>,
    written: u64,
    too_large: bool,
    transport: Option<io::Error>,
    buffered: Option<Vec<u8>>,
}

impl ResponseStream {
    pub(crate) fn new(base: &str, request_id: &str, invocation_id: Option<&str>) -> Self {
        Self {
            base: base.to_string(),
            path: format!("/runtime/invocation/{request_id}/response"),
            invocation_id: invocation_id.map(str::to_string),
            content_type: DEFAULT_CONTENT_TYPE.into(),
            post: None,
            written: 0,
            too_large: false,
            transport: None,
            buffered: None,
        }
    }

    /// Whether the first byte has been sent (after which an error goes in the trailers).
    pub fn started(&self) -> bool {
        self.post.is_some()
    }

    /// Chooses the response's content type (default `application/octet-stream`). It is sent
    /// with the first byte, so it must be chosen before: afterwards this fails.
    pub fn set_content_type(&mut self, content_type: &str) -> io::Result<()> {
        if self.started() {
            return Err(io::Error::other(
                "the content type must be chosen before the first byte is written",
            ));
        }
        self.content_type = content_type.to_string();
        Ok(())
    }

    /// Starts an HTTP-integration response (Function URLs): the content type becomes
    /// `application/vnd.awslambda.http-integration-response` and `prelude` (status, headers,
    /// cookies) is sent, then the 8 NUL bytes; what is written next is the HTTP body.
    /// Fails after the first byte.
    pub fn start_http(&mut self, prelude: &HttpPrelude) -> io::Result<()> {
        self.set_content_type(HTTP_INTEGRATION_CONTENT_TYPE)?;
        self.write_all(&prelude.to_bytes())
    }

    /// Answers this invocation with one buffered response instead of a stream, exactly as a
    /// non-streaming handler's return value is posted (Lambda's 6 MB limit applies): for
    /// handlers that choose per invocation whether to stream. The body is posted when the
    /// handler returns `Ok`. Fails after the first byte; once called, writes fail.
    pub fn respond_buffered(&mut self, body: Vec<u8>) -> io::Result<()> {
        if self.started() {
            return Err(io::Error::other(
                "a buffered response cannot follow bytes already streamed",
            ));
        }
        self.buffered = Some(body);
        Ok(())
    }

    /// A stream for the same invocation with nothing sent, to stand in while the real one is
    /// lent out (the async forms hand theirs to a future).
    #[cfg(feature = "tokio")]
    pub(crate) fn placeholder(&self) -> Self {
        Self {
            base: self.base.clone(),
            path: self.path.clone(),
            invocation_id: self.invocation_id.clone(),
            ..Self::new("", "", None)
        }
    }

    /// Ends the request: the trailers carry `error` if there is one.
    fn finish(mut self, error: Option<&ErrorBody>) -> io::Result<u16> {
        if self.post.is_none() {
            self.start()?;
        }
        match self.post.take() {
            Some(post) => post.finish(error),
            None => Err(io::Error::other("the streamed POST was never started")),
        }
    }

    fn start(&mut self) -> io::Result<&mut ChunkedPost> {
        if let Some(error) = &self.transport {
            return Err(io::Error::new(error.kind(), error.to_string()));
        }
        let post = match self.post.take() {
            Some(post) => post,
            None => ChunkedPost::start(
                &self.base,
                &self.path,
                self.invocation_id.as_deref(),
                &self.content_type,
            )?,
        };
        Ok(self.post.insert(post))
    }
}

impl Write for ResponseStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.buffered.is_some() {
            return Err(io::Error::other(
                "this invocation was answered with a buffered response; it cannot stream too",
            ));
        }
        let total = self.written.saturating_add(data.len() as u64);
        if self.too_large || total > MAX_STREAMED_RESPONSE_BYTES {
            self.too_large = true;
            return Err(io::Error::other(format!(
                "the streamed response would be {total} bytes, over Lambda's limit of \
                 {MAX_STREAMED_RESPONSE_BYTES} bytes"
            )));
        }
        let sent = self.start().and_then(|post| post.write_chunk(data));
        if let Err(error) = sent {
            self.transport = Some(io::Error::new(error.kind(), error.to_string()));
            return Err(error);
        }
        self.written = total;
        Ok(data.len())
    }

    /// Every write is already on the wire (no Nagle delay); nothing is held back.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streaming handler on bytes, the form every streaming handler is turned into.
pub(crate) type StreamingHandler<'a> =
    dyn FnMut(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error> + 'a;

impl Connection {
    /// The invocation loop for a streaming handler. Returns only when the runtime must stop.
    pub(crate) fn serve_streaming(&self, handler: &mut StreamingHandler<'_>) -> FatalError {
        loop {
            let answer = match self.next_invocation() {
                Ok(answer) => answer,
                Err(fatal) => return fatal,
            };
            let context = match self.context_of(&answer) {
                Ok(Some(context)) => context,
                Ok(None) => continue,
                Err(fatal) => return fatal,
            };
            if self.export_trace {
                export_trace_id(context.trace_id.as_deref());
            }
            set_request_id(Some(&context.request_id));
            let outcome = self.invoke_streaming(answer.body, &context, handler);
            set_request_id(None);
            if self.export_trace {
                export_trace_id(None);
            }
            if let Err(fatal) = outcome {
                return fatal;
            }
        }
    }

    fn invoke_streaming(
        &self,
        event: Vec<u8>,
        context: &Context,
        handler: &mut StreamingHandler<'_>,
    ) -> Result<(), FatalError> {
        let invocation_id = context.invocation_id.as_deref();
        let mut out = ResponseStream::new(self.client.base(), &context.request_id, invocation_id);
        let returned = catch_unwind(AssertUnwindSafe(|| handler(event, context, &mut out)));
        let error = match returned {
            _ if out.too_large => Some(ErrorBody::new(
                error_type::RESPONSE_OVER_LIMIT,
                format!(
                    "the streamed response went past Lambda's limit of \
                     {MAX_STREAMED_RESPONSE_BYTES} bytes"
                ),
            )),
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.into_body(error_type::HANDLER)),
            Err(panic) => Some(ErrorBody::new(
                error_type::HANDLER_PANIC,
                panic_message(panic.as_ref()),
            )),
        };
        if let Some(body) = &error {
            log::error!("{}: {}", body.error_type, body.error_message);
            if !out.started() {
                return self.post(&context.request_id, invocation_id, Err(body.clone()));
            }
        }
        if let Some(response) = out.buffered.take() {
            let outcome = within_limit(response);
            if let Err(body) = &outcome {
                log::error!("{}: {}", body.error_type, body.error_message);
            }
            return self.post(&context.request_id, invocation_id, outcome);
        }
        let url = self.client.url(&out.path);
        match out.finish(error.as_ref()) {
            Ok(status) if (200..300).contains(&status) => Ok(()),
            Ok(500) => Err(FatalError::ContainerError {
                url: format!("POST {url}"),
                body: "(streamed response refused)".into(),
            }),
            Ok(status) => {
                log::warn!("POST {url} answered {status}; going on to the next event");
                Ok(())
            }
            Err(failure) => {
                log::warn!("POST {url} failed: {failure}; going on to the next event");
                Ok(())
            }
        }
    }
}
