//! One invocation through a worker: the `INVOKE`, then the replies that answer it, buffered
//! (`RESPONSE`) or streamed (`STREAM`, `CHUNK`s, `END`), or an `ERROR`.
//!
//! [`step`] says what each reply means, without I/O; [`WorkerHandler::respond`] drives the
//! pipes and the sink and replaces a worker that broke the protocol.

use std::io;

use crate::error_types;
use crate::invocation::{Answer, Context, Handler, InvocationError, ResponseSink, cutoff};
use crate::lines::tail_suffix;
use crate::protocol::{self, Reply};

use super::running::Exchange;
use super::{StartFailure, WorkerHandler, ending};

/// Content type of a stream whose `STREAM` names none (what AWS's runtimes default to).
const DEFAULT_STREAM_CONTENT_TYPE: &str = "application/octet-stream";
/// Longest content type accepted in a `STREAM`.
const MAX_CONTENT_TYPE: usize = 256;

/// What one reply means for the invocation `id`, given whether its stream has started.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The whole answer, buffered.
    Respond(Vec<u8>),
    /// The invocation failed (ends a started stream).
    Fail(InvocationError),
    /// The answer is a stream of this content type.
    Open(String),
    /// The next bytes of the stream.
    Send(Vec<u8>),
    /// The stream is complete.
    Close,
    /// The worker broke the protocol, in these words (it is replaced).
    Violation(String),
}

fn step(id: &str, streaming: bool, reply: Reply) -> Step {
    let kind = reply.kind();
    match reply.id() {
        Some(answered) if answered != id => {
            return Step::Violation(format!(
                "answered INVOKE `{id}` with a {kind} for `{answered}`; it was not taken as this invocation's answer"
            ));
        }
        Some(_) => {}
        None => return Step::Violation(format!("answered INVOKE `{id}` with {kind}")),
    }
    match (reply, streaming) {
        (Reply::Error { error, .. }, _) => Step::Fail(error),
        (Reply::Response { body, .. }, false) => Step::Respond(body),
        (Reply::Stream { content_type, .. }, false) => match content_type_of(&content_type) {
            Ok(content_type) => Step::Open(content_type),
            Err(why) => Step::Violation(format!("opened the stream of `{id}` with {why}")),
        },
        (Reply::Chunk { data, .. }, true) => Step::Send(data),
        (Reply::End { .. }, true) => Step::Close,
        (_, true) => Step::Violation(format!(
            "sent {kind} for `{id}` after STREAM (a stream goes on with CHUNK and ends with END or ERROR)"
        )),
        (_, false) => Step::Violation(format!(
            "sent {kind} for `{id}` before STREAM (a stream starts with STREAM)"
        )),
    }
}

/// The content type of a `STREAM`: visible ASCII and spaces (it becomes an HTTP header).
fn content_type_of(field: &[u8]) -> Result<String, String> {
    if field.is_empty() {
        return Ok(DEFAULT_STREAM_CONTENT_TYPE.to_owned());
    }
    let fits =
        field.len() <= MAX_CONTENT_TYPE && field.iter().all(|&b| b.is_ascii_graphic() || b == b' ');
    match std::str::from_utf8(field) {
        Ok(text) if fits => Ok(text.to_owned()),
        _ => Err(format!(
            "the content type `{}`, which is not visible ASCII and spaces of at most {MAX_CONTENT_TYPE} bytes",
            field[..field.len().min(80)].escape_ascii()
        )),
    }
}

impl Handler for WorkerHandler {
    fn respond(
        &mut self,
        event: &[u8],
        context: &Context,
        sink: &mut dyn ResponseSink,
    ) -> Result<Answer, InvocationError> {
        let cutoff = cutoff(context, self.margin);
        let display = self.command.display.clone();
        let Some(id) = protocol::frame_id(&context.request_id) else {
            return Err(InvocationError::new(
                error_types::PROTOCOL,
                format!(
                    "the request id `{}` cannot travel in the worker protocol (empty, or over {} bytes once encoded); it was not sent to worker `{display}`",
                    context.request_id,
                    protocol::MAX_ID
                ),
            ));
        };
        self.make_ready(cutoff)?;
        let Some(running) = &mut self.running else {
            return Err(InvocationError::new(
                error_types::START_FAILED,
                format!("worker `{display}` is not running"),
            ));
        };
        let stale = match running.unsolicited() {
            Ok(stale) => stale,
            Err(e) => Some(format!("(unreadable: {e})")),
        };
        if let Some(start) = stale {
            self.restart("wrote to its reply pipe between invocations");
            return Err(InvocationError::new(
                error_types::PROTOCOL,
                format!(
                    "worker `{display}` wrote to its reply pipe while no invocation was running (`{start}`: a reply too many, or too late, for an earlier invocation), so this invocation was not sent to it and it was replaced"
                ),
            ));
        }
        let head = protocol::encode_invoke_head(&id, context, event.len());
        let mut outgoing: Vec<&[u8]> = vec![&head, event];
        let mut streaming = false;
        // A stream the sink refused (Lambda's size limit, a lost connection) is read to its
        // end all the same, so the worker stays in step for the next invocation.
        let mut refused: Option<io::Error> = None;
        loop {
            let Some(running) = &mut self.running else {
                return Err(InvocationError::new(
                    error_types::START_FAILED,
                    format!("worker `{display}` is not running"),
                ));
            };
            let reply = match running.exchange(&outgoing, Some(cutoff)) {
                Exchange::Reply(reply) => reply,
                other => return Err(self.failed(other, streaming)),
            };
            outgoing.clear();
            let finished = match step(&id, streaming, reply) {
                Step::Open(_) if running.desynced => {
                    self.restart("replied before reading its whole request");
                    return Err(InvocationError::new(
                        error_types::PROTOCOL,
                        format!(
                            "worker `{display}` sent STREAM before reading its whole INVOKE, and the worker was replaced"
                        ),
                    ));
                }
                Step::Open(content_type) => {
                    streaming = true;
                    refused = sink.start(&content_type).err();
                    continue;
                }
                Step::Send(data) => {
                    if refused.is_none() {
                        refused = sink.chunk(&data).err();
                    }
                    continue;
                }
                Step::Violation(why) => {
                    self.restart("broke the protocol");
                    return Err(InvocationError::new(
                        error_types::PROTOCOL,
                        format!("worker `{display}` {why}, and the worker was replaced"),
                    ));
                }
                Step::Respond(body) => Ok(Answer::Buffered(body)),
                // After the first byte the error travels in the trailers, which are bounded:
                // a worker's long traceback is cut to fit, so the invocation is answered.
                Step::Fail(error) if streaming => Err(error.fitted_for_trailers()),
                Step::Fail(error) => Err(error),
                Step::Close => match refused {
                    None => Ok(Answer::Streamed),
                    Some(e) => Err(InvocationError::new(
                        error_types::PROTOCOL,
                        format!("the stream from worker `{display}` could not be passed on: {e}"),
                    )),
                },
            };
            if let Some(why) = running.unfit() {
                self.restart(&why);
            }
            return finished;
        }
    }
}

impl WorkerHandler {
    /// Starts a worker if none runs and waits for its `READY`, until `cutoff`.
    fn make_ready(&mut self, cutoff: std::time::Instant) -> Result<(), InvocationError> {
        let display = self.command.display.clone();
        if self.running.is_none() {
            self.spawn().map_err(|e| {
                InvocationError::new(
                    error_types::START_FAILED,
                    format!("cannot start worker `{display}`: {e}"),
                )
            })?;
        }
        let Err(failure) = self.await_ready(Some(cutoff)) else {
            return Ok(());
        };
        // The failed worker is stopped; start the next one now so it boots meanwhile.
        let _ = self.spawn();
        Err(match failure {
            StartFailure::Init(error) => error,
            StartFailure::TimedOut => InvocationError::new(
                error_types::HANDLER_TIMEOUT,
                format!(
                    "worker `{display}` was restarted but did not send READY before the invocation's deadline (less {} ms)",
                    self.margin.as_millis()
                ),
            ),
            StartFailure::Failed { reason, tail } => InvocationError::new(
                error_types::START_FAILED,
                format!(
                    "worker `{display}` failed to restart: {reason}{}",
                    tail_suffix(&tail)
                ),
            ),
        })
    }

    /// The error for an exchange that ended without a reply; the worker is replaced.
    fn failed(&mut self, outcome: Exchange, streaming: bool) -> InvocationError {
        let display = self.command.display.clone();
        let during = if streaming {
            "while streaming its response"
        } else {
            "during the invocation"
        };
        match outcome {
            Exchange::TimedOut => {
                // The error must reach Lambda before its own timeout ends the sandbox:
                // spend at most half the margin on the dead worker's last output.
                let tail = self.restart_within("timed out", self.margin / 2);
                InvocationError {
                    error_type: error_types::HANDLER_TIMEOUT.into(),
                    message: format!(
                        "worker `{display}` was still busy {} ms before the invocation's deadline, so its process group was killed and a new worker started",
                        self.margin.as_millis()
                    ),
                    stack_trace: tail,
                }
            }
            Exchange::Exited { status, killed } => {
                let tail = self.restart("exited during an invocation");
                InvocationError::new(
                    lamina_context::facts::error_type::EXIT,
                    format!(
                        "worker `{display}` {} {during}; a new worker was started{}",
                        ending(status, killed),
                        tail_suffix(&tail)
                    ),
                )
            }
            Exchange::Broken(e) => {
                self.restart("broke the protocol");
                InvocationError::new(
                    error_types::PROTOCOL,
                    format!("worker `{display}` broke the protocol: it sent {e}; it was restarted"),
                )
            }
            Exchange::Io(e) => {
                self.restart("could not be talked to");
                InvocationError::new(
                    error_types::PROTOCOL,
                    format!("talking to worker `{display}` failed: {e}; it was restarted"),
                )
            }
            Exchange::Reply(reply) => {
                self.restart("broke the protocol");
                InvocationError::new(
                    error_types::PROTOCOL,
                    format!(
                        "worker `{display}` sent {} out of turn; it was restarted",
                        reply.kind()
                    ),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, data: &[u8]) -> Reply {
        Reply::Chunk {
            id: id.into(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn a_stream_opens_sends_and_closes() {
        let open = Reply::Stream {
            id: "a".into(),
            content_type: b"text/plain".to_vec(),
        };
        assert_eq!(step("a", false, open), Step::Open("text/plain".into()));
        assert_eq!(step("a", true, chunk("a", b"x")), Step::Send(b"x".to_vec()));
        assert_eq!(step("a", true, Reply::End { id: "a".into() }), Step::Close);
        let error = InvocationError::new("E", "m");
        let fail = Reply::Error {
            id: "a".into(),
            error: error.clone(),
        };
        assert_eq!(step("a", true, fail), Step::Fail(error));
        let unnamed = Reply::Stream {
            id: "a".into(),
            content_type: Vec::new(),
        };
        assert_eq!(
            step("a", false, unnamed),
            Step::Open(DEFAULT_STREAM_CONTENT_TYPE.into())
        );
    }

    #[test]
    fn out_of_order_or_crossed_stream_messages_are_violations() {
        let violation = |reply, streaming| match step("a", streaming, reply) {
            Step::Violation(why) => why,
            other => panic!("{other:?}"),
        };
        insta::assert_snapshot!(violation(chunk("a", b"x"), false), @"sent CHUNK for `a` before STREAM (a stream starts with STREAM)");
        insta::assert_snapshot!(violation(Reply::End { id: "a".into() }, false), @"sent END for `a` before STREAM (a stream starts with STREAM)");
        let response = Reply::Response {
            id: "a".into(),
            body: Vec::new(),
        };
        insta::assert_snapshot!(violation(response, true), @"sent RESPONSE for `a` after STREAM (a stream goes on with CHUNK and ends with END or ERROR)");
        insta::assert_snapshot!(violation(chunk("b", b"x"), true), @"answered INVOKE `a` with a CHUNK for `b`; it was not taken as this invocation's answer");
        let bad_type = Reply::Stream {
            id: "a".into(),
            content_type: b"text/plain\r\nx: y".to_vec(),
        };
        insta::assert_snapshot!(violation(bad_type, false), @r"opened the stream of `a` with the content type `text/plain\r\nx: y`, which is not visible ASCII and spaces of at most 256 bytes");
        insta::assert_snapshot!(violation(Reply::Ready { version: None }, false), @"answered INVOKE `a` with READY");
    }
}
