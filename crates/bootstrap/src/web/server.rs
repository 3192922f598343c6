//! The one web server of an `http:` function, shared by every slot: started at init, started
//! again when it died, and how a failed request is told. Requests run outside the lock; only
//! starting, stopping and judging a failure take it.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::environment::ChildEnvironment;
use crate::error_types;
use crate::invocation::InvocationError;
use crate::log::Log;
use crate::process::{describe_status, die_with_parent, kill_group, own_pid};

use super::command::WebCommand;

/// How long init waits for the server to listen: Lambda's init phase lasts at most 10 s.
pub(super) const READY_LIMIT: Duration = Duration::from_secs(10);
/// How long a failed request waits for the server's exit to show, when it is dying.
const EXIT_SETTLE: Duration = Duration::from_millis(500);
/// Lines of the server's stderr kept for messages.
const TAIL_LINES: usize = 10;

/// A running server: its process (leader of its own group) and the tail of its stderr.
#[derive(Debug)]
struct Process {
    child: Child,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Process {
    /// The last lines of its stderr.
    fn tail(&self) -> Vec<String> {
        lock(&self.stderr_tail).iter().cloned().collect()
    }
}

/// How the server of one generation ended, kept for the requests that were in flight to it.
#[derive(Debug)]
struct Ending {
    generation: u64,
    exited: Option<String>,
    tail: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    process: Option<Process>,
    /// Counts starts: a request knows which server it went to.
    generation: u64,
    ended: Option<Ending>,
}

/// The server and everything needed to start it again.
#[derive(Debug)]
pub(super) struct WebServer {
    pub(super) web: WebCommand,
    task_root: PathBuf,
    environment: Arc<ChildEnvironment>,
    log: Log,
    pub(super) margin: Duration,
    /// How many invocations it serves at once: with more than one, a request that times out
    /// is abandoned rather than the server killed under the others.
    pub(super) slots: usize,
    /// Requests to it, shared by the slots (keeps up to one idle connection per slot).
    pub(super) agent: ureq::Agent,
    state: Mutex<State>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WebServer {
    pub(super) fn new(
        web: WebCommand,
        task_root: PathBuf,
        environment: Arc<ChildEnvironment>,
        log: Log,
        margin: Duration,
        slots: usize,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            // Every status is the app's answer, passed on as it is.
            .http_status_as_error(false)
            .max_idle_connections_per_host(slots.max(4))
            .build()
            .new_agent();
        Self {
            web,
            task_root,
            environment,
            log,
            margin,
            slots,
            agent,
            state: Mutex::new(State::default()),
        }
    }

    /// The generation of a running, ready server, starting one (until `cutoff`) if there is
    /// none or it died; on failure, why and its stderr tail.
    pub(super) fn ready(&self, cutoff: Instant) -> Result<u64, (String, Vec<String>)> {
        let mut state = lock(&self.state);
        if let Some(exited) = exited(&mut state) {
            let generation = state.generation;
            let tail = stop(&mut state);
            self.note(&format!("exited ({exited}) between invocations"));
            state.ended = Some(Ending {
                generation,
                exited: Some(exited),
                tail,
            });
        }
        if state.process.is_none() {
            self.start(&mut state, cutoff)?;
        }
        Ok(state.generation)
    }

    /// What readiness means, for messages.
    fn awaited(&self) -> String {
        match &self.web.ready_path {
            Some(path) => format!(
                "GET http://127.0.0.1:{}{path} to answer below 500",
                self.web.port
            ),
            None => format!("127.0.0.1:{} to accept connections", self.web.port),
        }
    }

    fn spawn(&self, state: &mut State) -> std::io::Result<()> {
        let command = &self.web.command;
        let mut process = Command::new(&command.program);
        process
            .args(&command.args)
            .current_dir(&self.task_root)
            .env_clear()
            .envs(self.environment.iter())
            .env("PORT", self.web.port.to_string())
            .stdin(Stdio::null())
            // Its stdout is the function's log as it is; stderr too, through a tail kept for
            // messages.
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .process_group(0);
        let parent = own_pid();
        // SAFETY: the closure only makes async-signal-safe calls (prctl, getppid).
        unsafe {
            process.pre_exec(move || die_with_parent(parent));
        }
        let mut child = process.spawn()?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let (tail, log) = (Arc::clone(&stderr_tail), self.log.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.line(line.as_bytes());
                    let mut tail = lock(&tail);
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            });
        }
        state.process = Some(Process { child, stderr_tail });
        state.generation += 1;
        Ok(())
    }

    /// Starts the server and waits for it until `cutoff`; on failure, why and its stderr tail.
    fn start(&self, state: &mut State, cutoff: Instant) -> Result<(), (String, Vec<String>)> {
        self.spawn(state)
            .map_err(|error| (format!("cannot start it: {error}"), Vec::new()))?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.web.port));
        loop {
            if let Some(exited) = exited(state) {
                let tail = stop(state);
                return Err((
                    format!(
                        "it {exited} before it was ready (waited for {})",
                        self.awaited()
                    ),
                    tail,
                ));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
                && self.ready_path_answers()
            {
                return Ok(());
            }
            if Instant::now() >= cutoff {
                let tail = stop(state);
                return Err((
                    format!(
                        "it was not ready in {} s: waited for {}",
                        READY_LIMIT.as_secs(),
                        self.awaited()
                    ),
                    tail,
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ready_path_answers(&self) -> bool {
        let Some(path) = &self.web.ready_path else {
            return true;
        };
        let url = format!("http://127.0.0.1:{}{path}", self.web.port);
        self.agent
            .get(&url)
            .config()
            .timeout_global(Some(Duration::from_secs(1)))
            .build()
            .call()
            .is_ok_and(|answer| answer.status().as_u16() < 500)
    }

    fn note(&self, what: &str) {
        self.log
            .note(&format!("web server `{}` {what}", self.web.command.display));
    }

    /// The error for a request to the server of `generation` that did not complete: the
    /// server died (it is replaced for the next invocation), or the request ran out of time.
    pub(super) fn failed(
        &self,
        generation: u64,
        transport: &str,
        deadline: Instant,
    ) -> InvocationError {
        let mut state = lock(&self.state);
        let timed_out = Instant::now() >= deadline;
        if state.generation != generation || state.process.is_none() {
            // Another slot already saw this server end and told it.
            return match &state.ended {
                Some(ending) if ending.generation == generation => {
                    died(ending.exited.as_deref(), transport, ending.tail.clone())
                }
                _ => died(None, transport, Vec::new()),
            };
        }
        // A server that died closed its connections a moment before the kernel says it has
        // exited: give it that moment, so its death is told as one.
        let mut exited = exited(&mut state);
        let settle = Instant::now() + EXIT_SETTLE;
        while exited.is_none() && !timed_out && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(5));
            exited = self::exited(&mut state);
        }
        if exited.is_none() && self.slots > 1 {
            // The others' requests are in flight to the same server, which is still up: only
            // this one is given up (a threaded server that dropped one connection on an error
            // in its handler serves the rest).
            let mut error = if timed_out {
                self.note("did not answer one request in time; it keeps serving the others");
                InvocationError::new(
                    error_types::HANDLER_TIMEOUT,
                    format!(
                        "the web server did not answer before the deadline (less {} ms); the request was abandoned, and the server, shared by {} slots, keeps running",
                        self.margin.as_millis(),
                        self.slots
                    ),
                )
            } else {
                self.note(&format!(
                    "failed one request ({transport}); it keeps serving the others"
                ));
                InvocationError::new(
                    lamina_context::facts::error_type::EXIT,
                    format!(
                        "the request to the web server failed: {transport}; the server, shared by {} slots, keeps running",
                        self.slots
                    ),
                )
            };
            error.stack_trace = tail_of(&state);
            return error;
        }
        let tail = stop(&mut state);
        self.note(&format!(
            "{}; starting a new one for the next invocation",
            exited.as_deref().unwrap_or(if timed_out {
                "ran out of time"
            } else {
                "failed"
            })
        ));
        state.ended = Some(Ending {
            generation,
            exited: exited.clone(),
            tail: tail.clone(),
        });
        if exited.is_none() && timed_out {
            let mut error = InvocationError::new(
                error_types::HANDLER_TIMEOUT,
                format!(
                    "the web server did not answer before the deadline (less {} ms) and was killed",
                    self.margin.as_millis()
                ),
            );
            error.stack_trace = tail;
            return error;
        }
        died(exited.as_deref(), transport, tail)
    }

    /// Kills the server's group.
    pub(super) fn stop(&self) {
        stop(&mut lock(&self.state));
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The error of a request whose server exited (`exited`: how) or failed it otherwise.
fn died(exited: Option<&str>, transport: &str, tail: Vec<String>) -> InvocationError {
    let mut error = match exited {
        Some(exited) => InvocationError::new(
            lamina_context::facts::error_type::EXIT,
            format!("Runtime exited with error: the web server {exited} during the request"),
        ),
        None => InvocationError::new(
            lamina_context::facts::error_type::EXIT,
            format!("the request to the web server failed: {transport}"),
        ),
    };
    error.stack_trace = tail;
    error
}

/// How the server ended, in Lambda's words, if it has.
fn exited(state: &mut State) -> Option<String> {
    let process = state.process.as_mut()?;
    match process.child.try_wait() {
        Ok(Some(status)) => Some(format!("exited ({})", describe_status(status))),
        _ => None,
    }
}

fn tail_of(state: &State) -> Vec<String> {
    state
        .process
        .as_ref()
        .map(Process::tail)
        .unwrap_or_default()
}

/// Kills the server's group and returns its stderr tail.
fn stop(state: &mut State) -> Vec<String> {
    let Some(mut process) = state.process.take() else {
        return Vec::new();
    };
    kill_group(process.child.id());
    let _ = process.child.wait();
    // Its stderr reader finishes with the pipe; give it a moment to take the last lines.
    std::thread::sleep(Duration::from_millis(20));
    process.tail()
}
