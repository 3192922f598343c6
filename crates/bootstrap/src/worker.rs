//! The worker convention: one long-lived process serving invocations over `PROTOCOL.md`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::environment::ChildEnvironment;
use crate::executable::tail_suffix;
use crate::handler_spec::InitError;
use crate::invocation::{Context, Handler, InvocationError, cutoff, error_types};
use crate::lines::Output;
use crate::log::Log;
use crate::process::{
    ExitWatch, describe_status, die_with_parent, earliest, high_pipe, install_fds, kill_group,
    own_pid, poll, set_nonblocking,
};
use crate::protocol::{self, Decoder, ProtocolError, Reply};

/// How long a worker that closed its reply pipe gets to exit on its own before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// How long to wait for a dead worker's last output lines to reach the log.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// The program a worker runs, and how to name it in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// Executable to start (an interpreter for adapters).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// How messages name it, e.g. `worker:./serve.pl` or `handler.handle (Python)`.
    pub display: String,
}

/// Serves invocations through one long-lived worker process, keeping it alive.
///
/// The worker runs in its own process group with the protocol on fds 3 (requests) and 4
/// (replies); its stdout and stderr go to the log. A worker that dies mid-invocation fails
/// that invocation with its exit status; one that overruns the deadline (less the margin) has
/// its whole group killed and the invocation fails with a timeout. Either way a new worker is
/// started at once, so it boots while the error is reported.
#[derive(Debug)]
pub struct WorkerHandler {
    command: WorkerCommand,
    task_root: PathBuf,
    environment: Arc<ChildEnvironment>,
    log: Log,
    margin: Duration,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    child: Child,
    watch: ExitWatch,
    requests: File,
    replies: File,
    decoder: Decoder,
    ready: bool,
    /// Replied before reading its whole request: it was killed and must be replaced.
    desynced: bool,
    output: Output,
}

/// How one exchange with a worker ended.
enum Exchange {
    Reply(Reply),
    TimedOut,
    Exited(Option<ExitStatus>),
    Broken(ProtocolError),
    Io(io::Error),
}

impl WorkerHandler {
    /// Starts the worker and waits (without a time limit: Lambda bounds init itself) until it
    /// announces `READY`. A worker that cannot start, exits, or reports `INIT_ERROR` first is
    /// an [`InitError`] for `/runtime/init/error`.
    pub fn start(
        command: WorkerCommand,
        task_root: PathBuf,
        environment: Arc<ChildEnvironment>,
        log: Log,
        margin: Duration,
    ) -> Result<Self, InitError> {
        let mut handler = Self {
            command,
            task_root,
            environment,
            log,
            margin,
            running: None,
        };
        handler
            .spawn()
            .map_err(|e| handler.start_failure(format!("cannot start it: {e}"), Vec::new()))?;
        match handler.await_ready(None) {
            Ok(()) => Ok(handler),
            Err(StartFailure::Init(error)) => Err(InitError::WorkerInit(error)),
            Err(StartFailure::Failed { reason, tail }) => Err(handler.start_failure(reason, tail)),
            Err(StartFailure::TimedOut) => {
                Err(handler.start_failure("it did not send READY in time".into(), Vec::new()))
            }
        }
    }

    fn start_failure(&self, reason: String, stderr_tail: Vec<String>) -> InitError {
        InitError::WorkerFailed {
            command: self.command.display.clone(),
            reason,
            stderr_tail,
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let (request_reader, request_writer) = high_pipe()?;
        let (reply_reader, reply_writer) = high_pipe()?;
        set_nonblocking(&request_writer)?;
        set_nonblocking(&reply_reader)?;
        let child_fds = [request_reader.as_raw_fd(), reply_writer.as_raw_fd()];
        let mut command = Command::new(&self.command.program);
        command
            .args(&self.command.args)
            .current_dir(&self.task_root)
            .env_clear()
            .envs(self.environment.iter())
            .env(protocol::env::PROTOCOL, protocol::VERSION)
            .env(protocol::env::IN, protocol::REQUEST_FD.to_string())
            .env(protocol::env::OUT, protocol::REPLY_FD.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let parent = own_pid();
        // SAFETY: the closure only makes async-signal-safe calls (prctl, getppid, dup2), on
        // descriptors that stay open in the parent until after spawn returns.
        unsafe {
            command.pre_exec(move || {
                die_with_parent(parent)?;
                install_fds(&child_fds)
            });
        }
        let mut child = command.spawn()?;
        drop(request_reader);
        drop(reply_writer);
        let stdout = child
            .stdout
            .take()
            .map(|out| File::from(std::os::fd::OwnedFd::from(out)));
        let stderr = child
            .stderr
            .take()
            .map(|err| File::from(std::os::fd::OwnedFd::from(err)));
        let output = match Output::new(stdout, stderr, self.log.clone()) {
            Ok(output) => output,
            Err(e) => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(e);
            }
        };
        let watch = ExitWatch::new(&child);
        self.running = Some(Running {
            child,
            watch,
            requests: request_writer,
            replies: reply_reader,
            decoder: Decoder::default(),
            ready: false,
            desynced: false,
            output,
        });
        Ok(())
    }

    /// Waits for `READY` from the running worker. On failure the worker is gone.
    fn await_ready(&mut self, cutoff: Option<Instant>) -> Result<(), StartFailure> {
        let Some(running) = &mut self.running else {
            return Err(StartFailure::Failed {
                reason: "it is not running".into(),
                tail: Vec::new(),
            });
        };
        if running.ready {
            return Ok(());
        }
        let outcome = running.exchange(&[], cutoff);
        let failure = match outcome {
            Exchange::Reply(Reply::Ready) => {
                running.ready = true;
                return Ok(());
            }
            Exchange::Reply(Reply::InitError(error)) => StartFailure::Init(error),
            Exchange::Reply(other) => StartFailure::Failed {
                reason: format!("it sent {} before READY", reply_kind(&other)),
                tail: Vec::new(),
            },
            Exchange::TimedOut => StartFailure::TimedOut,
            Exchange::Exited(status) => StartFailure::Failed {
                reason: format!(
                    "it exited with {} before sending READY",
                    status_text(status)
                ),
                tail: Vec::new(),
            },
            Exchange::Broken(e) => StartFailure::Failed {
                reason: format!("it broke the protocol: it sent {e}"),
                tail: Vec::new(),
            },
            Exchange::Io(e) => StartFailure::Failed {
                reason: format!("reading its replies failed: {e}"),
                tail: Vec::new(),
            },
        };
        // Past the cutoff, only half the margin is left for reading the last output.
        let drain = match failure {
            StartFailure::TimedOut => self.margin / 2,
            _ => OUTPUT_DRAIN,
        };
        let tail = self.stop(drain);
        Err(match failure {
            StartFailure::Failed { reason, .. } => StartFailure::Failed { reason, tail },
            other => other,
        })
    }

    /// Kills the worker's group, reaps it, and returns the last lines of its stderr,
    /// read for at most `drain` (something that escaped the group may hold the pipes).
    fn stop(&mut self, drain: Duration) -> Vec<String> {
        let Some(mut running) = self.running.take() else {
            return Vec::new();
        };
        running.watch.kill(&mut running.child);
        // The group is dead, so both streams reach EOF unless something escaped the group.
        let mut buffer = vec![0u8; 64 * 1024];
        running
            .output
            .drain_to_eof(Instant::now() + drain, &mut buffer);
        running.output.tail()
    }

    /// Replaces a failed worker with a fresh one (not yet READY), logging what happened.
    fn restart(&mut self, why: &str) -> Vec<String> {
        self.restart_within(why, OUTPUT_DRAIN)
    }

    /// [`Self::restart`], reading the old worker's last output for at most `drain`.
    fn restart_within(&mut self, why: &str, drain: Duration) -> Vec<String> {
        let tail = self.stop(drain);
        self.log.note(&format!(
            "worker `{}` {why}; starting a new one",
            self.command.display
        ));
        if let Err(e) = self.spawn() {
            self.log.note(&format!(
                "cannot start worker `{}`: {e}; will retry on the next invocation",
                self.command.display
            ));
        }
        tail
    }
}

impl Drop for WorkerHandler {
    fn drop(&mut self) {
        if let Some(running) = &mut self.running {
            running.watch.kill(&mut running.child);
        }
    }
}

enum StartFailure {
    Init(InvocationError),
    Failed { reason: String, tail: Vec<String> },
    TimedOut,
}

fn status_text(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "an unknown status".to_owned(), describe_status)
}

fn reply_kind(reply: &Reply) -> &'static str {
    match reply {
        Reply::Ready => "READY",
        Reply::InitError(_) => "INIT_ERROR",
        Reply::Response(_) => "RESPONSE",
        Reply::Error(_) => "ERROR",
    }
}

impl Handler for WorkerHandler {
    fn invoke(&mut self, event: &[u8], context: &Context) -> Result<Vec<u8>, InvocationError> {
        let cutoff = cutoff(context, self.margin);
        let display = self.command.display.clone();
        if self.running.is_none() {
            self.spawn().map_err(|e| {
                InvocationError::new(
                    error_types::START_FAILED,
                    format!("cannot start worker `{display}`: {e}"),
                )
            })?;
        }
        if let Err(failure) = self.await_ready(Some(cutoff)) {
            // The failed worker is stopped; start the next one now so it boots meanwhile.
            let _ = self.spawn();
            return Err(match failure {
                StartFailure::Init(error) => error,
                StartFailure::TimedOut => InvocationError::new(
                    error_types::TIMEOUT,
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
            });
        }
        let Some(running) = &mut self.running else {
            return Err(InvocationError::new(
                error_types::START_FAILED,
                format!("worker `{display}` is not running"),
            ));
        };
        let head = protocol::encode_invoke_head(context, event.len());
        let outcome = running.exchange(&[&head, event], Some(cutoff));
        if matches!(
            outcome,
            Exchange::Reply(Reply::Response(_) | Reply::Error(_))
        ) && (running.desynced || running.watch.check(&mut running.child).is_some())
        {
            self.restart("exited or fell out of step right after replying");
        }
        match outcome {
            Exchange::Reply(Reply::Response(body)) => Ok(body),
            Exchange::Reply(Reply::Error(error)) => Err(error),
            Exchange::Reply(other) => {
                self.restart("broke the protocol");
                Err(InvocationError::new(
                    error_types::PROTOCOL,
                    format!(
                        "worker `{display}` answered INVOKE with {}; it was restarted",
                        reply_kind(&other)
                    ),
                ))
            }
            Exchange::TimedOut => {
                // The error must reach Lambda before its own timeout ends the sandbox:
                // spend at most half the margin on the dead worker's last output.
                let tail = self.restart_within("timed out", self.margin / 2);
                Err(InvocationError {
                    error_type: error_types::TIMEOUT.into(),
                    message: format!(
                        "worker `{display}` was still busy {} ms before the invocation's deadline, so its process group was killed and a new worker started",
                        self.margin.as_millis()
                    ),
                    stack_trace: tail,
                })
            }
            Exchange::Exited(status) => {
                let tail = self.restart("exited during an invocation");
                Err(InvocationError::new(
                    error_types::WORKER_EXITED,
                    format!(
                        "worker `{display}` exited with {} during the invocation; a new worker was started{}",
                        status_text(status),
                        tail_suffix(&tail)
                    ),
                ))
            }
            Exchange::Broken(e) => {
                self.restart("broke the protocol");
                Err(InvocationError::new(
                    error_types::PROTOCOL,
                    format!("worker `{display}` broke the protocol: it sent {e}; it was restarted"),
                ))
            }
            Exchange::Io(e) => {
                self.restart("could not be talked to");
                Err(InvocationError::new(
                    error_types::PROTOCOL,
                    format!("talking to worker `{display}` failed: {e}; it was restarted"),
                ))
            }
        }
    }
}

impl Running {
    /// Writes `outgoing` to the worker and reads one reply, until `cutoff`.
    fn exchange(&mut self, outgoing: &[&[u8]], cutoff: Option<Instant>) -> Exchange {
        let mut segment = 0;
        let mut offset = 0;
        let mut writing = outgoing.iter().any(|s| !s.is_empty());
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match self.decoder.next_reply() {
                Ok(Some(reply)) => {
                    // Lines printed before the reply belong to this invocation's log.
                    self.output.drain_available(&mut buffer);
                    if writing {
                        // Replied before reading the whole request: the streams are out of
                        // step, so this worker cannot serve another invocation.
                        kill_group(self.child.id());
                        self.desynced = true;
                    }
                    return Exchange::Reply(reply);
                }
                Ok(None) => {}
                Err(e) => return Exchange::Broken(e),
            }
            if self.watch.check(&mut self.child).is_some() {
                // Dead: whatever it wrote before dying may still complete a reply.
                if let Err(e) = self.drain(&mut buffer) {
                    return Exchange::Io(e);
                }
                return match self.decoder.next_reply() {
                    Ok(Some(reply)) => Exchange::Reply(reply),
                    Ok(None) => Exchange::Exited(self.watch.status()),
                    Err(e) => Exchange::Broken(e),
                };
            }
            let now = Instant::now();
            if cutoff.is_some_and(|c| now >= c) {
                return Exchange::TimedOut;
            }
            let mut fds = vec![libc::pollfd {
                fd: self.replies.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            if writing {
                fds.push(libc::pollfd {
                    fd: self.requests.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                });
            }
            let output_from = fds.len();
            let (output_indices, output_fds): (Vec<usize>, Vec<libc::pollfd>) =
                self.output.pollfds().into_iter().unzip();
            fds.extend(output_fds);
            fds.extend(self.watch.pollfd());
            let wake = earliest(cutoff, self.watch.poll_slice().map(|s| now + s));
            if let Err(e) = poll(&mut fds, wake) {
                return Exchange::Io(e);
            }
            for (offset, index) in output_indices.into_iter().enumerate() {
                if fds[output_from + offset].revents != 0 {
                    self.output.pump(index, &mut buffer);
                }
            }
            if writing && fds[1].revents != 0 {
                match self.requests.write(&outgoing[segment][offset..]) {
                    Ok(n) => {
                        offset += n;
                        while segment < outgoing.len() && offset >= outgoing[segment].len() {
                            segment += 1;
                            offset = 0;
                        }
                        writing = segment < outgoing.len();
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    // It closed its request pipe: it is going away; its exit tells the rest.
                    Err(_) => writing = false,
                }
            }
            if fds[0].revents != 0 {
                match self.replies.read(&mut buffer) {
                    Ok(0) => {
                        let status = self.watch.settle(&mut self.child, EXIT_GRACE);
                        return match self.decoder.next_reply() {
                            Ok(Some(reply)) => Exchange::Reply(reply),
                            Ok(None) => Exchange::Exited(status),
                            Err(e) => Exchange::Broken(e),
                        };
                    }
                    Ok(n) => self.decoder.push(&buffer[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return Exchange::Io(e),
                }
            }
        }
    }

    /// Reads whatever is left in the reply pipe without waiting.
    fn drain(&mut self, buffer: &mut [u8]) -> io::Result<()> {
        loop {
            match self.replies.read(buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => self.decoder.push(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
