//! The `http:` convention: `_HANDLER=http:PORT[/READY_PATH]:COMMAND [ARGS]` runs an unchanged
//! web server (Flask, Express, a PSGI app, `python3 -m http.server`) as the function, as AWS's
//! Lambda Web Adapter does. The server starts once, at init, and is awaited until its port
//! accepts (or `READY_PATH` answers below 500). Each HTTP event (API Gateway REST or HTTP API,
//! Function URL, ALB) is forwarded to it as a real HTTP request on 127.0.0.1:PORT, and its
//! answer is returned in the shape that event kind expects (through lamina-http); any other
//! event is POSTed as it is to `LAMINA_HTTP_EVENTS_PATH` (default `/events`) and the answer's
//! body is the result. Like a worker, a server that dies fails the invocation in Lambda's words
//! and is started again for the next one; one that overruns the deadline is killed.

mod command;
mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lamina_http::{Body, HttpError};
use ureq::RequestExt as _;

use crate::environment::ChildEnvironment;
use crate::error_types;
use crate::init_error::InitError;
use crate::invocation::{Answer, Context, Handler, InvocationError, ResponseSink, cutoff};
use crate::log::Log;
pub use command::WebCommand;
use server::{READY_LIMIT, WebServer};

/// `_HANDLER`'s prefix for the convention.
pub const HTTP_PREFIX: &str = "http:";
/// The variable naming where non-HTTP events are POSTed.
pub const EVENTS_PATH_VARIABLE: &str = "LAMINA_HTTP_EVENTS_PATH";
/// Where non-HTTP events are POSTed unless [`EVENTS_PATH_VARIABLE`] says otherwise (the Lambda
/// Web Adapter's default too).
pub const DEFAULT_EVENTS_PATH: &str = "/events";
/// Largest answer read from the server (Lambda's limit is 6 MB; this bounds memory).
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Serves invocations by forwarding them to a web server kept running. Every slot of a
/// function holds a clone: they share the one server (it owns the port), and their requests
/// to it run at once.
#[derive(Debug, Clone)]
pub struct WebHandler {
    server: Arc<WebServer>,
    events_path: String,
}

impl WebHandler {
    /// Starts the server and waits until it is ready; a server that exits first or is not
    /// ready within Lambda's 10 s init is an [`InitError`] naming the command and what was
    /// awaited. `slots` is how many clones will forward to it at once.
    pub fn start(
        web: WebCommand,
        task_root: PathBuf,
        environment: Arc<ChildEnvironment>,
        log: Log,
        margin: Duration,
        slots: usize,
    ) -> Result<Self, InitError> {
        let events_path = environment
            .iter()
            .find(|(name, _)| *name == EVENTS_PATH_VARIABLE)
            .map(|(_, value)| value.to_string_lossy().into_owned())
            .filter(|path| path.starts_with('/'))
            .unwrap_or_else(|| DEFAULT_EVENTS_PATH.to_owned());
        let server = WebServer::new(web, task_root, environment, log, margin, slots);
        server
            .ready(Instant::now() + READY_LIMIT)
            .map_err(|(reason, stderr_tail)| InitError::WorkerFailed {
                command: server.web.command.display.clone(),
                reason,
                stderr_tail,
            })?;
        Ok(WebHandler {
            server: Arc::new(server),
            events_path,
        })
    }

    /// Forwards one event; `Err` with the invocation's error when the server failed.
    fn forward(
        &self,
        generation: u64,
        event: &[u8],
        deadline: Instant,
    ) -> Result<Vec<u8>, InvocationError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let base = format!("http://127.0.0.1:{}", self.server.web.port);
        let agent = &self.server.agent;
        let failed = |error: &dyn std::fmt::Display| {
            self.server.failed(generation, &error.to_string(), deadline)
        };
        let (request, kind) = match lamina_http::from_event(event) {
            Ok((request, kind)) => (Some(request), Some(kind)),
            Err(HttpError::NotHttp { .. } | HttpError::Json(_)) => (None, None),
            Err(other) => {
                return Err(InvocationError::new(
                    error_types::INVALID_HTTP_EVENT,
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
                let outgoing = outgoing.body(body.as_bytes().to_vec()).map_err(|e| {
                    InvocationError::new(error_types::INVALID_HTTP_EVENT, e.to_string())
                })?;
                outgoing
                    .with_agent(agent)
                    .configure()
                    .timeout_global(Some(left))
                    .run()
            }
            None => agent
                .post(format!("{base}{}", self.events_path))
                .header("content-type", "application/json")
                .config()
                .timeout_global(Some(left))
                .build()
                .send(event),
        };
        let mut answer = answer.map_err(|error| failed(&error))?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|error| failed(&error))?;
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
}

impl Handler for WebHandler {
    fn respond(
        &mut self,
        event: &[u8],
        context: &Context,
        _: &mut dyn ResponseSink,
    ) -> Result<Answer, InvocationError> {
        let deadline = cutoff(context, self.server.margin);
        let generation = self.server.ready(deadline).map_err(|(reason, tail)| {
            let mut error = InvocationError::new(
                error_types::START_FAILED,
                format!("web server `{}`: {reason}", self.server.web.command.display),
            );
            error.stack_trace = tail;
            error
        })?;
        self.forward(generation, event, deadline)
            .map(Answer::Buffered)
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
