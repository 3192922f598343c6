//! What the function does with a runtime's posts to the Runtime API: a response, an error
//! (before or after the first byte of a stream), an oversized answer, an init error. Each
//! is checked against the instance's state machine, then ends its invocation (or the
//! instance) once; the answer to the runtime is a [`RuntimeAnswer`].

use std::sync::Arc;

use bytes::Bytes;

use super::{Ending, Function, RuntimeAnswer, StreamPart};
use crate::http::ErrorBody;
use crate::instance::Posted;
use crate::instance_io::lock;

impl Function {
    /// `POST /runtime/invocation/{id}/response`.
    pub fn post_response(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        body: Bytes,
    ) -> RuntimeAnswer {
        self.end_invocation(instance_id, request_id, Ending::Response(body))
    }

    /// `POST /runtime/invocation/{id}/error`.
    pub fn post_error(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        error_type: Option<&str>,
        body: &[u8],
    ) -> RuntimeAnswer {
        let (body, error_type) = normalise_error(error_type, body);
        self.end_invocation(
            instance_id,
            request_id,
            Ending::FunctionError { body, error_type },
        )
    }

    /// Where the streamed response to `request_id` goes as it arrives: `Ok(None)` when the
    /// caller takes the whole answer at once; `Err` with the Runtime API's answer when the id
    /// is not this instance's current invocation.
    pub fn stream_target(
        &self,
        instance_id: u64,
        request_id: &str,
    ) -> Result<Option<tokio::sync::mpsc::Sender<StreamPart>>, RuntimeAnswer> {
        let state = lock(&self.state);
        let Some(instance) = state.instances.get(&instance_id) else {
            return Err(RuntimeAnswer::ContainerError);
        };
        match instance.life.delivered(request_id) {
            Some(running) => Ok(running.invocation.stream.clone()),
            None => Err(RuntimeAnswer::InvalidRequestId),
        }
    }

    /// A response above the payload limit: 413 to the runtime, and the invocation fails.
    pub fn response_too_large(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
    ) -> RuntimeAnswer {
        match self.end_invocation(instance_id, request_id, Ending::ResponseTooLarge) {
            RuntimeAnswer::Accepted => RuntimeAnswer::TooLarge,
            refused => refused,
        }
    }

    fn end_invocation(
        self: &Arc<Self>,
        instance_id: u64,
        request_id: &str,
        ending: Ending,
    ) -> RuntimeAnswer {
        let mut state = lock(&self.state);
        let Some(instance) = state.instances.get_mut(&instance_id) else {
            return RuntimeAnswer::ContainerError;
        };
        let running = match instance.life.post(request_id) {
            Posted::Accepted(running) => *running,
            Posted::AlreadyAnswered => return RuntimeAnswer::AlreadyAnswered,
            Posted::UnknownId => return RuntimeAnswer::InvalidRequestId,
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
                description: "signal: killed".to_string(),
                error_type: "Runtime.OutOfMemory",
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

    /// `POST /runtime/init/error`: the caller waiting for this instance gets the error.
    pub fn post_init_error(
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
        if !self.external {
            // The runtime is expected to exit now; Lambda would not use it again either.
            if let Some(instance) = state.instances.remove(&instance_id) {
                instance.retire();
            }
        }
        let invocation = state.queue.pop_front();
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
                .unwrap_or("Runtime.Unknown")
                .to_string();
            (Bytes::copy_from_slice(body), error_type)
        }
        None => {
            let error_type = error_type_header.unwrap_or("Runtime.Unknown").to_string();
            let message = String::from_utf8_lossy(body);
            (
                ErrorBody {
                    message: &message,
                    error_type: &error_type,
                }
                .to_bytes(),
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
        assert_eq!(error_type, "Runtime.Unknown");
    }
}
