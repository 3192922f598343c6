//! The glue between `lamina-runtime`'s invocation loop and a [`Handler`].

use std::sync::Arc;

use lamina_runtime::{Config, Context, Error};

use crate::{ChildEnvironment, Handler, InitError, InvocationError, Log, Settings};

/// Serves invocations from the Runtime API with the handler `_HANDLER` names, until the
/// runtime must stop; an init failure goes to `/runtime/init/error`. Never returns.
pub fn run() -> ! {
    lamina_runtime::run_raw_with_init(|config: &Config| {
        let log = Log::stdout();
        let mut handler = load(config, &log).map_err(|error| {
            let error = error.to_invocation_error();
            log_stack_trace(&log, &error);
            to_runtime_error(error)
        })?;
        Ok(move |event: Vec<u8>, context: &Context| {
            handler.invoke(&event, context).map_err(|error| {
                log_stack_trace(&log, &error);
                to_runtime_error(error)
            })
        })
    })
}

fn load(config: &Config, log: &Log) -> Result<Box<dyn Handler>, InitError> {
    let mut settings = Settings::from_env()?;
    settings.task_root = config.task_root.clone();
    // The runtime exports the trace id per invocation; children get theirs per invocation too,
    // never a stale one from init.
    let base = std::env::vars_os().filter(|(name, _)| name != "_X_AMZN_TRACE_ID");
    let environment = ChildEnvironment::build(base, &settings.opt_dir)?;
    crate::load_handler(
        config.handler.as_deref(),
        &settings,
        Arc::new(environment),
        log,
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
