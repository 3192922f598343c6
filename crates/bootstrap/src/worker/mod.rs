//! The worker convention: one long-lived process serving invocations over `PROTOCOL.md`.

mod respond;
mod running;

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::environment::ChildEnvironment;
use crate::init_error::InitError;
use crate::invocation::InvocationError;
use crate::lines::Output;
use crate::log::Log;
use crate::process::{
    ExitWatch, describe_status, die_with_parent, high_pipe, install_fds, kill_group, own_pid,
    set_nonblocking,
};
use crate::protocol::{self, Decoder, Reply};
use running::{EXIT_GRACE, Exchange, Running};

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
            Exchange::Reply(Reply::Ready { version })
                if version.as_deref() == Some(protocol::VERSION) =>
            {
                running.ready = true;
                return Ok(());
            }
            Exchange::Reply(Reply::Ready { version }) => StartFailure::Failed {
                reason: version_mismatch(version.as_deref()),
                tail: Vec::new(),
            },
            Exchange::Reply(Reply::InitError(error)) => StartFailure::Init(error),
            Exchange::Reply(other) => StartFailure::Failed {
                reason: format!("it sent {} before READY", other.kind()),
                tail: Vec::new(),
            },
            Exchange::TimedOut => StartFailure::TimedOut,
            Exchange::Exited { status, killed } => StartFailure::Failed {
                reason: format!("it {} before sending READY", ending(status, killed)),
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

/// Why a worker's `READY` is refused: it speaks another version of the protocol.
fn version_mismatch(version: Option<&str>) -> String {
    let announced = match version {
        None => "sent a bare `READY`, as workers of version 1 of the protocol do".to_owned(),
        Some(version) => {
            format!("announced version {version} of the worker protocol (`READY {version}`)")
        }
    };
    format!(
        "it {announced}, but this bootstrap speaks version {v} (LAMINA_PROTOCOL={v}): {}",
        protocol::CHANGES_FROM_1,
        v = protocol::VERSION
    )
}

/// How a worker ended, in Lambda's wording, saying whether the bootstrap killed it.
fn ending(status: Option<ExitStatus>, killed: bool) -> String {
    let wording = status.map_or_else(|| "an unknown status".to_owned(), describe_status);
    if killed {
        format!(
            "closed its reply pipe without exiting, so the bootstrap killed it after {} s ({wording})",
            EXIT_GRACE.as_secs()
        )
    } else {
        format!("exited with {wording}")
    }
}
