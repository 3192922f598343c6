//! What the function does with a runtime's posts to the Runtime API: a response, an error
//! (before or after the first byte of a stream), an oversized answer, an init error. Each
//! is checked against the instance's state machine, then ends its invocation (or the
//! instance) once; the answer to the runtime is a [`RuntimeAnswer`].

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use lamina_context::facts;
use tokio::sync::mpsc;

use super::{Ending, Function, Job, KILLED, take_queued};
use crate::instance::{Posted, Poster};
use crate::instance_io::lock;
use crate::invocation::StreamPart;
use crate::runtime_api::{Backend, RuntimeAnswer, StreamEnd};

impl Backend for Function {
    fn slots(&self) -> usize {
        self.config.max_concurrency
    }

    fn next_invocation(
        self: &Arc<Self>,
        instance_id: u64,
    ) -> impl Future<Output = RuntimeAnswer> + Send {
        self.wait_for_invocation(instance_id)
    }

    /// `POST /runtime/invocation/{id}/response` with the whole response.
    fn post_response(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        body: Bytes,
    ) -> RuntimeAnswer {
        self.end_invocation(
            instance_id,
            request_id,
            invocation_id,
            Ending::Response(body),
            Poster::Whole,
            false,
        )
    }

    /// `POST /runtime/invocation/{id}/error`.
    fn post_error(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        error_type: Option<&str>,
        body: &[u8],
    ) -> RuntimeAnswer {
        let (body, error_type) = normalise_error(error_type, body);
        self.end_invocation(
            instance_id,
            request_id,
            invocation_id,
            Ending::FunctionError { body, error_type },
            Poster::Whole,
            true,
        )
    }

    /// A streamed `/response` for `request_id` starts. `Ok` with where its bytes go as they
    /// arrive (`None` when the caller takes the whole answer at once): the stream must then
    /// end with [`Function::end_stream`], and no other response is let in meanwhile. `Err`
    /// with the Runtime API's answer when the id is not this instance's delivered
    /// invocation, or another answer to it is under way.
    fn begin_stream(
        &self,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
    ) -> Result<Option<mpsc::Sender<StreamPart>>, RuntimeAnswer> {
        let mut state = lock(&self.state);
        let Some(instance) = state.instances.get_mut(&instance_id) else {
            return Err(RuntimeAnswer::ContainerError);
        };
        if let Some(refused) = instance.life.begin_answer(request_id, invocation_id) {
            return Err(refused_answer(refused));
        }
        Ok(instance
            .life
            .delivered(request_id)
            .and_then(|running| running.invocation.invocation.stream.clone()))
    }

    /// Ends the streamed answer [`Function::begin_stream`] let in: the invocation ends with
    /// it, whatever it is (a stream that could not be read fails the invocation, which is
    /// never handed out again).
    fn end_stream(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        end: StreamEnd,
    ) -> RuntimeAnswer {
        let is_error = !matches!(end, StreamEnd::Response(_));
        let (ending, refused) = match end {
            StreamEnd::Response(body) => (Ending::Response(body), None),
            StreamEnd::Error { error_type, body } => {
                let (body, error_type) = normalise_error(Some(&error_type), &body);
                (Ending::FunctionError { body, error_type }, None)
            }
            StreamEnd::TooLarge { limit } => (
                Ending::ResponseTooLarge { limit },
                Some(RuntimeAnswer::TooLarge { limit }),
            ),
            StreamEnd::Truncated(reason) => (
                truncated(
                    request_id,
                    &format!(
                        "the runtime's streamed response could not be read to its end ({reason})"
                    ),
                ),
                Some(RuntimeAnswer::Truncated),
            ),
        };
        match self.end_invocation(
            instance_id,
            request_id,
            invocation_id,
            ending,
            Poster::Stream,
            is_error,
        ) {
            RuntimeAnswer::Accepted => refused.unwrap_or(RuntimeAnswer::Accepted),
            other => other,
        }
    }

    /// A whole `/response` (or, `is_error`, `/error`) whose body could not be read to its
    /// end: the invocation fails (400 to the runtime, if it is still there to read it).
    fn answer_truncated(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        is_error: bool,
        reason: &str,
    ) -> RuntimeAnswer {
        let ending = truncated(
            request_id,
            &format!("the runtime's response could not be read to its end ({reason})"),
        );
        match self.end_invocation(
            instance_id,
            request_id,
            invocation_id,
            ending,
            Poster::Whole,
            is_error,
        ) {
            RuntimeAnswer::Accepted => RuntimeAnswer::Truncated,
            refused => refused,
        }
    }

    /// A whole response above the buffered payload limit: 413 to the runtime, and the
    /// invocation fails.
    fn response_too_large(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
    ) -> RuntimeAnswer {
        let limit = facts::MAX_SYNC_RESPONSE_BYTES as u64;
        match self.end_invocation(
            instance_id,
            request_id,
            invocation_id,
            Ending::ResponseTooLarge { limit },
            Poster::Whole,
            false,
        ) {
            RuntimeAnswer::Accepted => RuntimeAnswer::TooLarge { limit },
            refused => refused,
        }
    }

    /// `POST /runtime/init/error`: the caller waiting for this instance gets the error.
    fn post_init_error(
        self: &Arc<Self>,
        instance_id: u64,
        error_type: Option<&str>,
        body: &[u8],
    ) -> RuntimeAnswer {
        let (body, error_type) = normalise_error(error_type, body);
        let mut state = lock(&self.state);
        let Some(instance) = state.instances.get(&instance_id) else {
            return RuntimeAnswer::ContainerError;
        };
        if !instance.life.is_init() {
            return RuntimeAnswer::InitErrorAfterInit;
        }
        if self.external && state.queue.is_empty() {
            if let Some(instance) = state.instances.get_mut(&instance_id) {
                instance.pending_init_error = Some((body, error_type));
            }
            return RuntimeAnswer::Accepted;
        }
        let io = Arc::clone(&instance.io);
        let init_duration = instance.spawned_at.elapsed();
        let tenant = instance.life.tenant().map(str::to_string);
        if !self.external {
            // The runtime is expected to exit now; Lambda would not use it again either.
            if let Some(instance) = state.instances.remove(&instance_id) {
                instance.retire();
            }
        }
        let invocation = take_queued(&mut state.queue, tenant.as_deref());
        if !self.external {
            self.dispatch(&mut state);
        }
        drop(state);
        let function = Arc::clone(self);
        self.handle.spawn(async move {
            function
                .fail_init(
                    &io,
                    invocation,
                    init_duration,
                    &error_type,
                    body,
                    Vec::new(),
                )
                .await;
            io.kill_all();
        });
        RuntimeAnswer::Accepted
    }
}

impl Function {
    fn end_invocation(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        invocation_id: Option<&str>,
        ending: Ending,
        poster: Poster,
        is_error: bool,
    ) -> RuntimeAnswer {
        let mut state = lock(&self.state);
        let Some(instance) = state.instances.get_mut(&instance_id) else {
            return RuntimeAnswer::ContainerError;
        };
        let running = match instance
            .life
            .post(request_id, invocation_id, poster, is_error)
        {
            Posted::Accepted(running) => *running,
            refused => return refused_answer(refused),
        };
        let io = Arc::clone(&instance.io);
        if io.cgroup.as_ref().is_some_and(|c| c.oom_killed()) {
            // A process of the instance (a worker in a group of its own) was killed for
            // memory while the runtime lived on. Lambda ends the whole sandbox then; v2 does
            // it with memory.oom.group, v1 has no such switch, so it is done here.
            if let Some(instance) = state.instances.remove(&instance_id) {
                instance.retire();
            }
            io.sample_cgroup_peak();
            io.kill_all();
            self.dispatch(&mut state);
            drop(state);
            let ending = Ending::Crash {
                exit: KILLED,
                error_type: facts::error_type::OUT_OF_MEMORY,
            };
            self.handle
                .spawn(Arc::clone(self).finish(instance_id, io, running, ending, false));
            return RuntimeAnswer::Accepted;
        }
        drop(state);
        self.handle
            .spawn(Arc::clone(self).finish(instance_id, io, running, ending, true));
        RuntimeAnswer::Accepted
    }
}

/// What the Runtime API answers a result it refused.
fn refused_answer(refused: Posted<Job>) -> RuntimeAnswer {
    match refused {
        Posted::AlreadyAnswered => RuntimeAnswer::AlreadyAnswered,
        Posted::TimedOut => RuntimeAnswer::InvokeTimeout,
        // AWS answers a response while another is under way as it answers a stranger's id
        // (`Runtime.InvokeResponseInProgress`, rendered as 400 `InvalidRequestID`).
        Posted::InProgress | Posted::UnknownId | Posted::Accepted(_) => {
            RuntimeAnswer::InvalidRequestId
        }
    }
}

/// The failure of an invocation whose answer could not be read: `Runtime.TruncatedResponse`,
/// with `what` happened.
fn truncated(request_id: &str, what: &str) -> Ending {
    Ending::SandboxError {
        message: format!("RequestId: {request_id} Error: {what}, so the invocation failed"),
        error_type: facts::error_type::TRUNCATED_RESPONSE,
    }
}

/// An error body as the caller gets it: the runtime's JSON object as sent, or, when it sent
/// something else, `{"errorMessage": <its text>, "errorType": <its header>}`.
fn normalise_error(error_type_header: Option<&str>, body: &[u8]) -> (Bytes, String) {
    let parsed: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(body).ok();
    match parsed {
        Some(object) => {
            let error_type = object
                .get("errorType")
                .and_then(|t| t.as_str())
                .or(error_type_header)
                .unwrap_or(facts::error_type::UNKNOWN)
                .to_string();
            (Bytes::copy_from_slice(body), error_type)
        }
        None => {
            let error_type = error_type_header
                .unwrap_or(facts::error_type::UNKNOWN)
                .to_string();
            let message = String::from_utf8_lossy(body);
            (
                Bytes::from(facts::error_body(&error_type, &message)),
                error_type,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_pass_through_or_are_wrapped() {
        let (body, error_type) = normalise_error(
            Some("Header.Type"),
            br#"{"errorMessage":"m","errorType":"Body.Type"}"#,
        );
        assert_eq!(error_type, "Body.Type");
        assert_eq!(
            &body[..],
            br#"{"errorMessage":"m","errorType":"Body.Type"}"#
        );
        let (body, error_type) = normalise_error(Some("Header.Type"), b"not json \xff");
        assert_eq!(error_type, "Header.Type");
        assert_eq!(
            &body[..],
            "{\"errorMessage\":\"not json \u{fffd}\",\"errorType\":\"Header.Type\"}".as_bytes()
        );
        let (_, error_type) = normalise_error(None, b"[1]");
        assert_eq!(error_type, facts::error_type::UNKNOWN);
    }
}
