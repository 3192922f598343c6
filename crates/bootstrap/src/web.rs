//! The `http:` convention: `_HANDLER=http:PORT[/READY_PATH]:COMMAND [ARGS]` runs an unchanged
//! web server (Flask, Express, a PSGI app, `python3 -m http.server`) as the function, as AWS's
//! Lambda Web Adapter does. The server starts once, at init, and is awaited until its port
//! accepts (or `READY_PATH` answers below 500). Each HTTP event (API Gateway REST or HTTP API,
//! Function URL, ALB) is forwarded to it as a real HTTP request on 127.0.0.1:PORT, and its
//! answer is returned in the shape that event kind expects (through lamina-http); any other
//! event is POSTed as it is to `LAMINA_HTTP_EVENTS_PATH` (default `/events`) and the answer's
//! body is the result. Like a worker, a server that dies fails the invocation in Lambda's words
//! and is started again for the next one; one that overruns the deadline is killed.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lamina_http::{Body, HttpError};
use ureq::RequestExt as _;

use crate::environment::ChildEnvironment;
use crate::handler_spec::InitError;
use crate::invocation::{
    Answer, Context, Handler, InvocationError, ResponseSink, cutoff, error_types,
};
use crate::log::Log;
use crate::process::{describe_status, die_with_parent, kill_group, own_pid};
use crate::worker::WorkerCommand;

/// `_HANDLER`'s prefix for the convention.
pub const HTTP_PREFIX: &str = "http:";
/// The variable naming where non-HTTP events are POSTed.
pub const EVENTS_PATH_VARIABLE: &str = "LAMINA_HTTP_EVENTS_PATH";
/// Where non-HTTP events are POSTed unless [`EVENTS_PATH_VARIABLE`] says otherwise (the Lambda
/// Web Adapter's default too).
pub const DEFAULT_EVENTS_PATH: &str = "/events";
/// How long init waits for the server to listen: Lambda's init phase lasts at most 10 s.
const READY_LIMIT: Duration = Duration::from_secs(10);
/// Largest answer read from the server (Lambda's limit is 6 MB; this bounds memory).
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;
/// How long a failed request waits for the server's exit to show, when it is dying.
const EXIT_SETTLE: Duration = Duration::from_millis(500);
/// Lines of the server's stderr kept for messages.
const TAIL_LINES: usize = 10;

/// A web server to run: where it listens and the command that starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebCommand {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// A path that answers below 500 once the server is ready; by default, an accepted
    /// connection is enough.
    pub ready_path: Option<String>,
    /// The program and its arguments.
    pub command: WorkerCommand,
}

impl WebCommand {
    /// Splits `PORT[/READY_PATH]:COMMAND ARGS` (what follows `http:`) into the port, the ready
    /// path and the command's words.
    pub fn parse(spec: &str) -> Result<(u16, Option<String>, Vec<String>), String> {
        let Some((address, command)) = spec.split_once(':') else {
            return Err("`http:` must be followed by PORT:COMMAND, e.g. http:8080:./app.py".into());
        };
        let (port, ready_path) = match address.split_once('/') {
            Some((port, path)) => (port, Some(format!("/{path}"))),
            None => (address, None),
        };
        let port =
            port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                format!("`{port}` is not a port (1-65535): use http:PORT:COMMAND")
            })?;
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return Err(
                "`http:PORT:` must be followed by the command that starts the server".into(),
            );
        }
        Ok((port, ready_path, words))
    }
}

/// A running server: its process (leader of its own group) and the tail of its stderr.
#[derive(Debug)]
struct Server {
    child: Child,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    fn tail(&self) -> Vec<String> {
        lock(&self.stderr_tail).iter().cloned().collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves invocations by forwarding them to a web server it keeps running.
#[derive(Debug)]
pub struct WebHandler {
    web: WebCommand,
    task_root: PathBuf,
    environment: Arc<ChildEnvironment>,
    log: Log,
    margin: Duration,
    events_path: String,
    agent: ureq::Agent,
    server: Option<Server>,
}

impl WebHandler {
    /// Starts the server and waits until it is ready; a server that exits first or is not
    /// ready within Lambda's 10 s init is an [`InitError`] naming the command and what was
    /// awaited.
    pub fn start(
        web: WebCommand,
        task_root: PathBuf,
        environment: Arc<ChildEnvironment>,
        log: Log,
        margin: Duration,
    ) -> Result<Self, InitError> {
        let events_path = environment
            .iter()
            .find(|(name, _)| *name == EVENTS_PATH_VARIABLE)
            .map(|(_, value)| value.to_string_lossy().into_owned())
            .filter(|path| path.starts_with('/'))
            .unwrap_or_else(|| DEFAULT_EVENTS_PATH.to_owned());
        let agent = ureq::Agent::config_builder()
            // Every status is the app's answer, passed on as it is.
            .http_status_as_error(false)
            .max_idle_connections_per_host(4)
            .build()
            .new_agent();
        let mut handler = WebHandler {
            web,
            task_root,
            environment,
            log,
            margin,
            events_path,
            agent,
            server: None,
        };
        handler
            .start_server(Instant::now() + READY_LIMIT)
            .map_err(|(reason, stderr_tail)| InitError::WorkerFailed {
                command: handler.web.command.display.clone(),
                reason,
                stderr_tail,
            })?;
        Ok(handler)
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

    fn spawn(&mut self) -> std::io::Result<()> {
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
        self.server = Some(Server { child, stderr_tail });
        Ok(())
    }

    /// Starts the server and waits for it until `cutoff`; on failure, why and its stderr tail.
    fn start_server(&mut self, cutoff: Instant) -> Result<(), (String, Vec<String>)> {
        self.spawn()
            .map_err(|error| (format!("cannot start it: {error}"), Vec::new()))?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.web.port));
        loop {
            if let Some(exited) = self.exited() {
                let tail = self.stop();
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
                let tail = self.stop();
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

    /// How the server ended, in Lambda's words, if it has.
    fn exited(&mut self) -> Option<String> {
        let server = self.server.as_mut()?;
        match server.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited ({})", describe_status(status))),
            _ => None,
        }
    }

    /// Kills the server's group and returns its stderr tail.
    fn stop(&mut self) -> Vec<String> {
        let Some(mut server) = self.server.take() else {
            return Vec::new();
        };
        kill_group(server.child.id());
        let _ = server.child.wait();
        // Its stderr reader finishes with the pipe; give it a moment to take the last lines.
        std::thread::sleep(Duration::from_millis(20));
        server.tail()
    }

    /// Forwards one event; `Err` with the invocation's error when the server failed.
    fn forward(&mut self, event: &[u8], deadline: Instant) -> Result<Vec<u8>, InvocationError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let base = format!("http://127.0.0.1:{}", self.web.port);
        let (request, kind) = match lamina_http::from_event(event) {
            Ok((request, kind)) => (Some(request), Some(kind)),
            Err(HttpError::NotHttp { .. } | HttpError::Json(_)) => (None, None),
            Err(other) => {
                return Err(InvocationError::new(
                    "Runtime.InvalidHttpEvent",
                    other.to_string(),
                ));
            }
        };
        let answer = match request {
            Some(request) => {
                let (parts, body) = request.into_parts();
                let target = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let mut outgoing = lamina_http::http::Request::builder()
                    .method(parts.method)
                    .uri(format!("{base}{target}"));
                for (name, value) in &parts.headers {
                    // The connection is ours: hop-by-hop headers and the length are ureq's.
                    if !matches!(
                        name.as_str(),
                        "host" | "connection" | "content-length" | "transfer-encoding"
                    ) {
                        outgoing = outgoing.header(name, value);
                    }
                }
                let outgoing = outgoing
                    .body(body.as_bytes().to_vec())
                    .map_err(|e| InvocationError::new("Runtime.InvalidHttpEvent", e.to_string()))?;
                outgoing
                    .with_agent(&self.agent)
                    .configure()
                    .timeout_global(Some(left))
                    .run()
            }
            None => self
                .agent
                .post(format!("{base}{}", self.events_path))
                .header("content-type", "application/json")
                .config()
                .timeout_global(Some(left))
                .build()
                .send(event),
        };
        let mut answer = answer.map_err(|error| self.failed(&error.to_string(), deadline))?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|error| self.failed(&error.to_string(), deadline))?;
        let Some(kind) = kind else {
            return Ok(bytes);
        };
        let mut response = lamina_http::http::Response::new(Body::Binary(bytes));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(lamina_http::to_json(response, kind)
            .to_string()
            .into_bytes())
    }

    /// The error for a request that did not complete: the server died, or ran out of time.
    /// Either way it is replaced for the next invocation.
    fn failed(&mut self, transport: &str, deadline: Instant) -> InvocationError {
        let timed_out = Instant::now() >= deadline;
        // A server that died closed its connections a moment before the kernel says it has
        // exited: give it that moment, so its death is told as one.
        let mut exited = self.exited();
        let settle = Instant::now() + EXIT_SETTLE;
        while exited.is_none() && !timed_out && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(5));
            exited = self.exited();
        }
        let timed_out = exited.is_none() && timed_out;
        let tail = self.stop();
        self.log.note(&format!(
            "web server `{}` {}; starting a new one for the next invocation",
            self.web.command.display,
            exited.as_deref().unwrap_or(if timed_out {
                "ran out of time"
            } else {
                "failed"
            })
        ));
        let mut error = match (exited, timed_out) {
            (Some(exited), _) => InvocationError::new(
                error_types::WORKER_EXITED,
                format!("Runtime exited with error: the web server {exited} during the request"),
            ),
            (None, true) => InvocationError::new(
                error_types::TIMEOUT,
                format!(
                    "the web server did not answer before the deadline (less {} ms) and was killed",
                    self.margin.as_millis()
                ),
            ),
            (None, false) => InvocationError::new(
                error_types::WORKER_EXITED,
                format!("the request to the web server failed: {transport}"),
            ),
        };
        error.stack_trace = tail;
        error
    }
}

impl Handler for WebHandler {
    fn respond(
        &mut self,
        event: &[u8],
        context: &Context,
        _: &mut dyn ResponseSink,
    ) -> Result<Answer, InvocationError> {
        let deadline = cutoff(context, self.margin);
        if self.server.is_none() || self.exited().is_some() {
            self.stop();
            self.start_server(deadline).map_err(|(reason, tail)| {
                let mut error = InvocationError::new(
                    error_types::START_FAILED,
                    format!("web server `{}`: {reason}", self.web.command.display),
                );
                error.stack_trace = tail;
                error
            })?;
        }
        self.forward(event, deadline).map(Answer::Buffered)
    }
}

impl Drop for WebHandler {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_names_port_ready_path_and_command() {
        assert_eq!(
            WebCommand::parse("8080:./app.py --debug"),
            Ok((8080, None, vec!["./app.py".into(), "--debug".into()]))
        );
        assert_eq!(
            WebCommand::parse("3000/health:node server.js"),
            Ok((
                3000,
                Some("/health".into()),
                vec!["node".into(), "server.js".into()]
            ))
        );
        for bad in ["", "8080", "x:./app", "0:./app", "70000:./app", "8080:"] {
            assert!(WebCommand::parse(bad).is_err(), "{bad:?}");
        }
    }
}
