//! The glue between `lamina-runtime`'s invocation loop and a [`Handler`].

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use std::io::{self, Write as _};

use lamina_runtime::{Config, Context, Error, ResponseStream, Runtime};

use crate::{
    Answer, ChildEnvironment, Handler, InitError, InvocationError, Log, ResponseSink, Settings,
};

/// Serves invocations from the Runtime API with the handler `_HANDLER` names, until the
/// runtime must stop; an init failure goes to `/runtime/init/error` and ends the process with
/// `lamina-runtime: fatal: ...`. Never returns.
///
/// With `AWS_LAMBDA_MAX_CONCURRENCY=N` it serves up to N invocations at once, each with a
/// handler of its own: N workers (or adapters) are started at init, one per slot (an `http:`
/// server is started once and gets the N slots' requests at once). Each
/// invocation is answered the way its handler chooses: buffered, or streamed as produced.
pub fn run() -> ! {
    let runtime = Runtime::from_env()
        .unwrap_or_else(|error| error.exit())
        .concurrent();
    let log = Log::stdout();
    let slots = runtime.slots();
    let pool = runtime
        .init(|config: &Config| {
            let handlers = load(config, &log, slots).map_err(|error| {
                let error = error.to_invocation_error();
                log_stack_trace(&log, &error);
                to_runtime_error(error)
            })?;
            Ok(Pool::new(handlers))
        })
        .unwrap_or_else(|error| error.exit());
    runtime.serve_streaming_raw(
        move |event: Vec<u8>, context: &Context, out: &mut ResponseStream| {
            let answer = pool.respond(&event, context, out).map_err(|error| {
                log_stack_trace(&log, &error);
                to_runtime_error(error)
            })?;
            if let Answer::Buffered(body) = answer {
                out.respond_buffered(body)?;
            }
            Ok(())
        },
    )
}

/// One handler per slot. An invocation takes a free one, waiting for one to come back when
/// there are fewer handlers than invocations.
pub struct Pool {
    free: Mutex<Vec<Box<dyn Handler>>>,
    returned: Condvar,
}

impl Pool {
    /// A pool of these handlers, one per slot.
    pub fn new(handlers: Vec<Box<dyn Handler>>) -> Self {
        Self {
            free: Mutex::new(handlers),
            returned: Condvar::new(),
        }
    }

    /// Runs one invocation on a free handler and returns the whole response, streamed or not
    /// (see [`Pool::respond`]).
    pub fn invoke(&self, event: &[u8], context: &Context) -> Result<Vec<u8>, InvocationError> {
        let mut collected = crate::Collected::default();
        let answer = self.respond(event, context, &mut collected)?;
        Ok(collected.into_response(answer))
    }

    /// Runs one invocation on a free handler, which goes back to the pool afterwards, even
    /// when the invocation panicked (the handler then replaces its worker as after a crash).
    pub fn respond(
        &self,
        event: &[u8],
        context: &Context,
        sink: &mut dyn ResponseSink,
    ) -> Result<Answer, InvocationError> {
        let mut free = self.lock();
        let taken = loop {
            if let Some(handler) = free.pop() {
                break handler;
            }
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        };
        drop(free);
        let mut lent = Lent {
            pool: self,
            handler: Some(taken),
        };
        match lent.handler.as_mut() {
            Some(handler) => handler.respond(event, context, sink),
            None => Err(InvocationError::new(
                lamina_context::facts::error_type::UNKNOWN,
                "the pool lent a handler it did not have",
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn Handler>>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handler out of the pool for one invocation; dropping it gives it back.
struct Lent<'a> {
    pool: &'a Pool,
    handler: Option<Box<dyn Handler>>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(handler) = self.handler.take() {
            self.pool.lock().push(handler);
            self.pool.returned.notify_one();
        }
    }
}

/// The invocation's stream is where a streaming handler's chunks go, each sent at once.
impl ResponseSink for ResponseStream {
    fn start(&mut self, content_type: &str) -> io::Result<()> {
        self.set_content_type(content_type)
    }

    fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_all(data)
    }
}

fn load(config: &Config, log: &Log, slots: usize) -> Result<Vec<Box<dyn Handler>>, InitError> {
    let mut settings = Settings::from_env()?;
    settings.task_root = config.task_root.clone();
    // The runtime exports the trace id per invocation; children get theirs per invocation too,
    // never a stale one from init.
    let base = std::env::vars_os().filter(|(name, _)| name != "_X_AMZN_TRACE_ID");
    let environment = ChildEnvironment::build(base, &settings.opt_dir)?;
    crate::load_handlers(
        config.handler.as_deref(),
        &settings,
        Arc::new(environment),
        log,
        slots,
    )
}

/// The error posted to Lambda: type, message and the handler's stack trace as `stackTrace`,
/// as AWS's own Python and Node.js runtimes report it.
fn to_runtime_error(error: InvocationError) -> Error {
    Error::new(error.error_type, error.message).with_stack_trace(error.stack_trace)
}

/// Stack traces also go to the function log, where people read them first (CloudWatch), as
/// AWS's runtimes print a handler's traceback there too.
fn log_stack_trace(log: &Log, error: &InvocationError) {
    if error.stack_trace.is_empty() {
        return;
    }
    log.line(format!("{} stack trace:", error.error_type).as_bytes());
    for line in &error.stack_trace {
        log.line(format!("  {line}").as_bytes());
    }
}
