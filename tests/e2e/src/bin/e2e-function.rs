//! A function whose behaviour depends on the event, for the end-to-end tests.
//!
//! Built with `Runtime::init`: init reads `E2E_INIT` (`fail` returns an error, `panic`
//! panics) and sets up a counter that lives as long as the process, so tests can tell a
//! surviving process from a restarted one. A failure to start ends with `StartError::exit`,
//! whose `lamina-runtime: fatal: ...` line the tests read.

use lamina_runtime::{Context, Error, MAX_RESPONSE_BYTES, Runtime};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "do", default)]
    action: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ms: Option<u64>,
}

fn main() {
    let runtime = Runtime::from_env().unwrap_or_else(|error| error.exit());
    let handler = runtime
        .init(|_config| init())
        .unwrap_or_else(|error| error.exit());
    runtime.serve(handler)
}

/// The init phase: the handler, with its invocation counter.
fn init() -> Result<impl FnMut(Event, &Context) -> Result<Value, Error>, Error> {
    match std::env::var("E2E_INIT").as_deref() {
        Ok("fail") => return Err(Error::new("E2E.InitFailed", "E2E_INIT asked init to fail")),
        Ok("panic") => panic!("E2E_INIT asked init to panic"),
        _ => {}
    }
    log::info!("init done");
    let mut invocations: u64 = 0;
    Ok(
        move |event: Event, context: &Context| -> Result<Value, Error> {
            invocations += 1;
            match event.action.as_deref() {
                None => Ok(json!({
                    "message": format!("Hello, {}!", event.name.as_deref().unwrap_or("world")),
                    "invocations": invocations,
                })),
                Some("error") => Err(Error::new("Order.NotFound", "no order 42")),
                Some("panic") => panic!("asked to panic"),
                Some("big") => Ok(Value::String("x".repeat(MAX_RESPONSE_BYTES))),
                Some("abort") => std::process::abort(),
                Some("sleep") => {
                    std::thread::sleep(std::time::Duration::from_millis(event.ms.unwrap_or(0)));
                    Ok(json!({ "slept": true }))
                }
                Some("log") => {
                    log::info!("visible line for {}", context.request_id);
                    log::debug!("hidden line");
                    Ok(json!({ "logged": true }))
                }
                Some("context") => Ok(json!({
                    "request_id": context.request_id,
                    "remaining_ms": context.remaining_time().as_millis() as u64,
                    "trace_env": std::env::var("_X_AMZN_TRACE_ID").ok(),
                    "trace_id": context.trace_id,
                    "arn": context.invoked_function_arn,
                    "invocations": invocations,
                    "tenant_id": context.tenant_id,
                    "pid": std::process::id(),
                })),
                Some(other) => Err(Error::new(
                    "E2E.UnknownAction",
                    format!("unknown do: {other}"),
                )),
            }
        },
    )
}
