//! The AWS Lambda Runtime API client and invocation loop for Rust handlers.
//!
//! ```no_run
//! use lamina_runtime::{Context, Error};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Request { name: String }
//! #[derive(Serialize)]
//! struct Response { message: String }
//!
//! fn main() {
//!     lamina_runtime::run(|event: Request, _ctx: &Context| -> Result<Response, Error> {
//!         Ok(Response { message: format!("Hello, {}!", event.name) })
//!     })
//! }
//! ```
//!
//! # Starting: `run`, or a [`Runtime`]
//!
//! [`run`] is the one-line form: JSON in, JSON out, one invocation at a time. Everything else
//! is a [`Runtime`], one call per choice:
//!
//! ```no_run
//! use lamina_runtime::{Context, Error, Runtime, StartError};
//!
//! fn main() -> Result<(), StartError> {
//!     let runtime = Runtime::from_env()?;            // the configuration, read once
//!     let table = runtime.init(|config| {            // optional: the init phase
//!         Ok(format!("{}-orders", config.function_name.as_deref().unwrap_or("local")))
//!     })?;
//!     runtime
//!         .concurrent()                              // optional: AWS_LAMBDA_MAX_CONCURRENCY slots
//!         .serve(move |id: u64, _: &Context| -> Result<String, Error> {
//!             Ok(format!("order {id} in {table}"))
//!         })
//! }
//! ```
//!
//! | choice | how |
//! |---|---|
//! | state built once (clients, caches); fallible init | [`Runtime::init`] (`init_async` with the `tokio` feature) returns what it built, or the init error it posted |
//! | several invocations at once | [`Runtime::concurrent`]: the handler becomes `Fn + Send + Sync + 'static` (see Concurrency) |
//! | JSON in and out | [`serve`](Runtime::serve): `FnMut(E, &Context) -> Result<R, Error>` |
//! | bytes in and out (non-JSON payloads) | [`serve_raw`](Runtime::serve_raw): `FnMut(Vec<u8>, &Context) -> Result<Vec<u8>, Error>` |
//! | streamed responses (see below) | [`serve_streaming`](Runtime::serve_streaming): `FnMut(E, &Context, &mut ResponseStream) -> Result<(), Error>` |
//! | streamed, bytes in, or buffered per invocation | [`serve_streaming_raw`](Runtime::serve_streaming_raw): `FnMut(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error>`, and [`ResponseStream::respond_buffered`] |
//! | async code (feature `tokio`) | `serve_async`, `serve_async_raw`, `serve_streaming_async`: `FnMut(E, Context) -> impl Future<...>`; one current-thread tokio runtime, built once |
//!
//! Each `serve*` method (and [`run`]) serves events until the runtime must stop, then exits the
//! process non-zero after printing why on stderr. It never returns.
//!
//! An init failure (an `Err` or a panic from [`Runtime::init`], or a malformed
//! `AWS_LAMBDA_*` variable in [`Runtime::from_env`]) is posted to `/runtime/init/error` and
//! returned as a [`StartError`]: return it from `main`, or end with [`StartError::exit`] (what
//! [`run`] does), which prints `lamina-runtime: fatal: ...` and exits 1. When
//! `AWS_LAMBDA_RUNTIME_API` itself is missing or unusable, there is nobody to post to: the
//! error goes to stderr only.
//!
//! # Errors reported to Lambda
//!
//! A failed invocation is posted to `/runtime/invocation/{id}/error` as
//! `{"errorType","errorMessage","stackTrace"}` with the header
//! `Lambda-Runtime-Function-Error-Type` equal to `errorType`; `stackTrace` is empty unless
//! the handler gave one ([`Error::with_stack_trace`]). The types are stable:
//!
//! | `errorType` | when | then |
//! |---|---|---|
//! | chosen by the handler, e.g. `Order.NotFound` | the handler returned [`Error::new`] | next event |
//! | `Handler.Error` | the handler returned an error without a type (`?` on any `std::error::Error`, [`Error::msg`]) | next event |
//! | `Runtime.DeserializationError` | the event is not valid JSON, or not the handler's type; the message names the JSON path (e.g. `` `items[2].price` ``) | next event |
//! | `Runtime.SerializationError` | the handler's result cannot be written as JSON | next event |
//! | `Runtime.HandlerPanic` | the handler panicked; the message is the panic's message | next event |
//! | `Runtime.ResponseTooLarge` | the response is over [`MAX_RESPONSE_BYTES`] (6,291,556) bytes; it is not posted | next event |
//! | `Runtime.InvalidContext` | the `/next` headers are malformed (e.g. a non-numeric deadline); the message names the header | next event |
//! | chosen by the init function, else `Runtime.InitError` | init returned an error (to `/runtime/init/error`) | exit 1 |
//! | `Runtime.InitPanic` | init panicked (to `/runtime/init/error`) | exit 1 |
//! | `Runtime.ConfigError` | an `AWS_LAMBDA_*` variable is malformed (to `/runtime/init/error`) | exit 1 |
//!
//! The type is never derived from a Rust type name: names change with refactoring and leak
//! internals, which breaks callers that match on `errorType`. Characters other than visible
//! ASCII in a chosen type become `_`, so the header and the body always agree.
//!
//! # The Runtime API
//!
//! `AWS_LAMBDA_RUNTIME_API` may be `host:port`, `http://host:port`, either with a path prefix
//! (`127.0.0.1:9001/some/prefix`), or an IPv6 literal (`[::1]:9001`). One keep-alive
//! connection; no timeout on `GET /next` (AWS requires none: it is a long poll).
//!
//! * `GET /next` unreachable or answering 502-599: retried 5 times with backoff (0.1 s doubling,
//!   about 3 s in all), then exit 1 with the URL and the last failure. Any other non-200
//!   answer exits at once.
//! * Any answer 500 ("container error, runtime should exit promptly"): exit 1 at once.
//! * A post answered 4xx (400 wrong id, 403 already answered, 413 too large) is logged with
//!   the answer's body, and the loop goes on to the next event.
//!
//! # Response streaming
//!
//! The `serve_streaming*` methods give the handler a [`ResponseStream`] (an [`std::io::Write`]):
//! each write is POSTed to `/runtime/invocation/{id}/response` as one chunk at once
//! (`Lambda-Runtime-Function-Response-Mode: streaming`, `Transfer-Encoding: chunked`), so the
//! caller gets the first byte before the handler returns. An error (or panic) before the
//! first byte is posted to `/error` as for buffered handlers; after it, it goes in the
//! `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body` (base64 of
//! the error JSON) trailers. [`ResponseStream::start_http`] opens a Function URL response
//! with the HTTP-integration prelude ([`stream::HttpPrelude`]: JSON status, headers and
//! cookies, then 8 NUL bytes, under `application/vnd.awslambda.http-integration-response`).
//! A stream is limited to [`stream::MAX_STREAMED_RESPONSE_BYTES`] (AWS's 200 MB); the write
//! that would pass it fails and the invocation ends as `Runtime.ResponseTooLarge` in the
//! trailers. That one request is written by hand over a `TcpStream`: `ureq` cannot send
//! request trailers. With the `tokio` feature, `serve_streaming_async` gives an async handler
//! an `AsyncResponseStream` (a `tokio::io::AsyncWrite`) with the same promises.
//!
//! # Concurrency
//!
//! [`run`] and a [`Runtime`] take an `FnMut` handler and serve one invocation at a time; with
//! `AWS_LAMBDA_MAX_CONCURRENCY` above 1 (Lambda Managed Instances) they say once in the log
//! that they do. After [`Runtime::concurrent`] every `serve*` method takes an
//! `Fn + Send + Sync` handler and serves up to `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once
//! from one process: one thread per slot, each with its own connection polling `/next`. A
//! panic or error fails only its own invocation.
//!
//! Serving one at a time, the trace id is exported as `_X_AMZN_TRACE_ID` for the duration of
//! each invocation (and removed after), as AWS's sequential runtimes do. Serving several at
//! once it is not (the environment is the whole process's): read [`Context::trace_id`], as
//! AWS documents for this mode.
//!
//! # Logging
//!
//! The runtime installs a [`log`] logger (unless the program installed one first) writing to
//! stderr in Lambda's format chosen by `AWS_LAMBDA_LOG_FORMAT`:
//!
//! * `Text` (default): `2024-01-01T00:00:00.000Z<TAB>request-id<TAB>INFO<TAB>message`
//!   (no request-id field during init; newlines in the message become `\r`, so one record is
//!   one CloudWatch event, as in Lambda's Node.js runtime);
//! * `JSON`: `{"timestamp":"...","level":"INFO","requestId":"...","message":"..."}`
//!   (no `requestId` during init).
//!
//! Timestamps are RFC 3339 in UTC with milliseconds. Records below `AWS_LAMBDA_LOG_LEVEL`
//! (`TRACE`, `DEBUG`, `INFO` (default), `WARN`, `ERROR`, `FATAL`) are dropped in both formats;
//! `FATAL` drops every `log` record, since `log` has no fatal level.
//!
//! `tracing` users: enable `tracing`'s `log` feature, and with no `tracing` subscriber set,
//! events are forwarded as `log` records and land in these lines.

mod builder;
mod chunked;
mod client;
mod concurrent;
mod endpoint;
mod error;
mod logger;
mod serve;
pub mod stream;
mod streaming;

#[cfg(test)]
mod tests;

#[cfg(feature = "tokio")]
mod asynchronous;
#[cfg(feature = "tokio")]
mod asynchronous_streaming;

#[cfg(feature = "tokio")]
pub use asynchronous_streaming::AsyncResponseStream;
pub use builder::{Concurrent, Runtime, Sequential, run};
pub use error::{EndpointError, Error, StartError, error_type};
pub use lamina_context::{Config, ConfigError, Context};
pub use serve::MAX_RESPONSE_BYTES;
pub use streaming::ResponseStream;
