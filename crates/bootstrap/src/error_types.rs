//! The error types the bootstrap itself reports, in one place (handlers pick their own).
//!
//! Lambda's own error types (`Runtime.ExitError`, `Sandbox.Timedout`, ...) are not here: they
//! come from `lamina_context::facts::error_type`, and no name here is one of those names, so a
//! name means one string wherever it is read.

/// The handler code ran past its deadline (less the margin) and was killed: the bootstrap's
/// report, before Lambda's own `Sandbox.Timedout` would end the whole sandbox.
pub const HANDLER_TIMEOUT: &str = "Runtime.HandlerTimeout";
/// An executable handler exited with a non-zero status or was killed by a signal.
pub const HANDLER_FAILED: &str = "HandlerError";
/// A worker broke the framing of `PROTOCOL.md`, answered with a missing or wrong id, or
/// wrote on its reply pipe between invocations.
pub const PROTOCOL: &str = "Runtime.ProtocolError";
/// The handler process could not be started.
pub const START_FAILED: &str = "Runtime.StartError";
/// An `http:` function's event is an HTTP event that cannot become a request.
pub const INVALID_HTTP_EVENT: &str = "Runtime.InvalidHttpEvent";

/// Init: `_HANDLER` unset, malformed, or naming a path outside the task root.
pub const INVALID_HANDLER: &str = "Runtime.InvalidHandler";
/// Init: no such executable, function file, program or function.
pub const HANDLER_NOT_FOUND: &str = "Runtime.HandlerNotFound";
/// Init: the handler file lacks the execute bit.
pub const HANDLER_NOT_EXECUTABLE: &str = "Runtime.HandlerNotExecutable";
/// Init: the runtime layer's adapter for the handler's language is missing.
pub const ADAPTER_NOT_FOUND: &str = "Runtime.AdapterNotFound";
/// Init: a malformed `env.d` file, or variables over the bootstrap's bounds.
pub const INVALID_ENV_FILE: &str = "Runtime.InvalidEnvFile";
/// Init: a malformed `LAMINA_*` setting.
pub const INVALID_SETTING: &str = "Runtime.InvalidSetting";
/// Init: a worker (or web server) could not start or was not ready.
pub const WORKER_START: &str = "Runtime.WorkerStartError";
