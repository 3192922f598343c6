//! Typed values for an AWS Lambda custom runtime, parsed from the outside world.
//!
//! * [`Config`]: the function's configuration, read from the environment once at init.
//! * [`Context`]: one invocation, read from the headers of `GET /runtime/invocation/next`.
//!
//! This crate does no I/O and never panics on input: every value it parses comes from
//! outside the process, so every malformed value is a typed error ([`ConfigError`],
//! [`ContextError`]) that names the variable or header at fault.
//!
//! The header and variable names are exported as constants ([`header`], [`env`](mod@env)) so the
//! runtime, the emulator and the bootstrap all spell them the same way.

mod config;
mod context;
pub mod env;
pub mod facts;
pub mod header;
pub mod time;

pub use config::{
    Config, ConfigError, DEFAULT_FUNCTION_VERSION, DEFAULT_MEMORY_MB, DEFAULT_TASK_ROOT,
    InitializationType, LogFormat, LogLevel,
};
pub use context::{Context, ContextError, RELATIVE_DEADLINE_THRESHOLD_MS};
