//! The executable convention: one process per invocation, event on stdin, response on stdout.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::environment::ChildEnvironment;
use crate::error_types;
use crate::invocation::{
    Answer, Context, Handler, InvocationError, ResponseSink, context_variables, cutoff, names,
};
use crate::lines::{LineSplitter, Tail, tail_suffix};
use crate::log::Log;
use crate::process::{
    ExitWatch, describe_status, die_with_parent, earliest, kill_group, own_pid, poll,
    set_nonblocking,
};
use crate::protocol::MAX_FIELD;

/// Runs an executable once per invocation.
///
/// The event goes to its stdin, the context to `LAMINA_*` variables (and `_X_AMZN_TRACE_ID`),
/// its stdout is the response and its stderr goes to the log line by line. Exit status 0 is
/// success; anything else is a `HandlerError` whose message carries the status and the last
/// lines of stderr. When it exits, whatever it left running in its process group is killed.
///
/// Streaming ([`Self::streaming`], `_HANDLER=stream:FILE`), each read of its stdout is sent on
/// at once as a chunk of the response; a failure after the first byte ends the stream with
/// the error.
#[derive(Debug)]
pub struct ExecutableHandler {
    program: PathBuf,
    stream: Option<String>,
    display: String,
    task_root: PathBuf,
    environment: Arc<ChildEnvironment>,
    log: Log,
    margin: Duration,
}

impl ExecutableHandler {
    /// A handler running `program` in `task_root` with `environment`, killed `margin` before
    /// each deadline. `display` names it in error messages (the `_HANDLER` value).
    pub fn new(
        program: PathBuf,
        display: String,
        task_root: PathBuf,
        environment: Arc<ChildEnvironment>,
        log: Log,
        margin: Duration,
    ) -> Self {
        Self {
            program,
            stream: None,
            display,
            task_root,
            environment,
            log,
            margin,
        }
    }
}

impl ExecutableHandler {
    /// Streams stdout as it is produced, with this content type (`None`: buffered, the default).
    pub fn streaming(mut self, content_type: Option<String>) -> Self {
        self.stream = content_type;
        self
    }
}

impl Handler for ExecutableHandler {
    fn respond(
        &mut self,
        event: &[u8],
        context: &Context,
        sink: &mut dyn ResponseSink,
    ) -> Result<Answer, InvocationError> {
        let cutoff = cutoff(context, self.margin);
        let mut command = Command::new(&self.program);
        command
            .current_dir(&self.task_root)
            .env_clear()
            .envs(self.environment.iter())
            .envs(context_variables(context))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(trace) = &context.trace_id {
            command.env(names::AMZN_TRACE_ID, trace);
        }
        let parent = own_pid();
        // SAFETY: die_with_parent only makes async-signal-safe calls.
        unsafe {
            command.pre_exec(move || die_with_parent(parent));
        }
        let mut child = command.spawn().map_err(|e| {
            InvocationError::new(
                error_types::START_FAILED,
                format!("cannot start `{}`: {e}", self.display),
            )
        })?;
        let mut stdout = match &self.stream {
            Some(content_type) => Stdout::Streamed {
                sink,
                content_type,
                started: false,
            },
            None => Stdout::Buffered(Vec::new()),
        };
        let run = Run::new(&mut child)
            .and_then(|run| run.drive(&mut child, event, cutoff, &self.log, &mut stdout));
        let outcome = match run {
            Ok(outcome) => outcome,
            Err(e) => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(InvocationError::new(
                    error_types::START_FAILED,
                    format!("lost the pipes to `{}`: {e}", self.display),
                ));
            }
        };
        let tail = outcome.stderr_tail.lines();
        match outcome.end {
            End::Exited(status) if status.success() => stdout.finish().map_err(|e| {
                InvocationError::new(
                    error_types::HANDLER_FAILED,
                    format!(
                        "the stream from `{}` could not be passed on: {e}",
                        self.display
                    ),
                )
            }),
            End::Exited(status) => Err(InvocationError::new(
                error_types::HANDLER_FAILED,
                format!(
                    "`{}` exited with {}{}",
                    self.display,
                    describe_status(status),
                    tail_suffix(&tail)
                ),
            )),
            End::TimedOut => Err(InvocationError {
                error_type: error_types::HANDLER_TIMEOUT.into(),
                message: format!(
                    "`{}` was still running {} ms before the invocation's deadline, so its process group was killed",
                    self.display,
                    self.margin.as_millis()
                ),
                stack_trace: tail,
            }),
            End::TooLarge => Err(InvocationError::new(
                error_types::HANDLER_FAILED,
                format!(
                    "`{}` wrote more than {MAX_FIELD} bytes to stdout, so it was killed",
                    self.display
                ),
            )),
            End::Refused(e) => Err(InvocationError::new(
                error_types::HANDLER_FAILED,
                format!(
                    "the stream from `{}` could not be passed on ({e}), so it was killed",
                    self.display
                ),
            )),
        }
    }
}

enum End {
    Exited(std::process::ExitStatus),
    TimedOut,
    TooLarge,
    /// The sink refused a chunk of a streamed stdout.
    Refused(io::Error),
}

struct Outcome {
    end: End,
    stderr_tail: Tail,
}

/// Where the handler's stdout goes.
enum Stdout<'a> {
    /// Kept whole: the response once the handler exits.
    Buffered(Vec<u8>),
    /// Sent on as read, the stream opened with `content_type` at the first byte.
    Streamed {
        sink: &'a mut dyn ResponseSink,
        content_type: &'a str,
        started: bool,
    },
}

impl Stdout<'_> {
    /// Takes bytes read from stdout; `Ok(false)` when buffered stdout went past its limit.
    fn take(&mut self, data: &[u8]) -> io::Result<bool> {
        match self {
            Stdout::Buffered(bytes) => {
                bytes.extend_from_slice(data);
                Ok(bytes.len() as u64 <= MAX_FIELD)
            }
            Stdout::Streamed {
                sink,
                content_type,
                started,
            } => {
                if !*started {
                    sink.start(content_type)?;
                    *started = true;
                }
                sink.chunk(data)?;
                Ok(true)
            }
        }
    }

    /// The answer once the handler succeeded (a stream with nothing in it is opened empty).
    fn finish(self) -> io::Result<Answer> {
        match self {
            Stdout::Buffered(bytes) => Ok(Answer::Buffered(bytes)),
            Stdout::Streamed {
                sink,
                content_type,
                started,
            } => {
                if !started {
                    sink.start(content_type)?;
                }
                Ok(Answer::Streamed)
            }
        }
    }
}

struct Run {
    stdin: Option<File>,
    stdout: Option<File>,
    stderr: Option<File>,
    watch: ExitWatch,
}

impl Run {
    fn new(child: &mut std::process::Child) -> io::Result<Self> {
        let take = |fd: Option<std::os::fd::OwnedFd>| -> io::Result<Option<File>> {
            let file = fd.map(File::from);
            if let Some(file) = &file {
                set_nonblocking(file)?;
            }
            Ok(file)
        };
        Ok(Self {
            stdin: take(child.stdin.take().map(Into::into))?,
            stdout: take(child.stdout.take().map(Into::into))?,
            stderr: take(child.stderr.take().map(Into::into))?,
            watch: ExitWatch::new(child),
        })
    }

    fn drive(
        mut self,
        child: &mut std::process::Child,
        event: &[u8],
        cutoff: Instant,
        log: &Log,
        stdout: &mut Stdout<'_>,
    ) -> io::Result<Outcome> {
        let mut written = 0;
        let mut splitter = LineSplitter::default();
        let mut tail = Tail::default();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut reaped_stragglers = false;
        if event.is_empty() {
            self.stdin = None;
        }
        let end = loop {
            if let Some(status) = self.watch.check(child) {
                if !reaped_stragglers {
                    // The handler is done: anything it left in its group must not hold our
                    // pipes open (or outlive the invocation).
                    kill_group(child.id());
                    reaped_stragglers = true;
                }
                if self.stdout.is_none() && self.stderr.is_none() {
                    break End::Exited(status);
                }
            }
            let now = Instant::now();
            if now >= cutoff {
                match self.watch.status() {
                    // Exited, but something outside its group holds the pipes: stop reading.
                    Some(status) => break End::Exited(status),
                    None => {
                        self.watch.kill(child);
                        break End::TimedOut;
                    }
                }
            }
            let mut fds = Vec::with_capacity(4);
            let mut slots = [usize::MAX; 3];
            for (slot, (file, events)) in [
                (&self.stdin, libc::POLLOUT),
                (&self.stdout, libc::POLLIN),
                (&self.stderr, libc::POLLIN),
            ]
            .into_iter()
            .enumerate()
            {
                if let Some(file) = file {
                    slots[slot] = fds.len();
                    fds.push(libc::pollfd {
                        fd: file.as_raw_fd(),
                        events,
                        revents: 0,
                    });
                }
            }
            fds.extend(self.watch.pollfd());
            let wake = earliest(Some(cutoff), self.watch.poll_slice().map(|s| now + s));
            poll(&mut fds, wake)?;
            let ready = |slot: usize| slots[slot] != usize::MAX && fds[slots[slot]].revents != 0;
            if ready(0) {
                if let Some(stdin) = &mut self.stdin {
                    match stdin.write(&event[written..]) {
                        Ok(n) => written += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // The handler closed stdin without reading all of it: its choice.
                        Err(_) => written = event.len(),
                    }
                }
                if written >= event.len() {
                    self.stdin = None;
                }
            }
            if ready(1)
                && let Some(n) = read_some(&mut self.stdout, &mut buffer)?
            {
                match stdout.take(&buffer[..n]) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.watch.kill(child);
                        break End::TooLarge;
                    }
                    Err(e) => {
                        self.watch.kill(child);
                        break End::Refused(e);
                    }
                }
            }
            if ready(2)
                && let Some(n) = read_some(&mut self.stderr, &mut buffer)?
            {
                splitter.feed(&buffer[..n], &mut |line| {
                    log.line(line);
                    tail.push(line);
                });
            }
        };
        splitter.finish(&mut |line| {
            log.line(line);
            tail.push(line);
        });
        Ok(Outcome {
            end,
            stderr_tail: tail,
        })
    }
}

/// Reads what is available; on EOF closes the stream (`None`). `Ok(None)` when nothing was read.
fn read_some(stream: &mut Option<File>, buffer: &mut [u8]) -> io::Result<Option<usize>> {
    let Some(file) = stream else {
        return Ok(None);
    };
    match file.read(buffer) {
        Ok(0) => {
            *stream = None;
            Ok(None)
        }
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
