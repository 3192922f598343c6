//! The core of lamina's universal bootstrap: run Lambda handlers written in any language.
//!
//! `_HANDLER` picks one of three conventions (see the crate README):
//!
//! * **executable** (`handler.sh`): one process per invocation, event on stdin, response on
//!   stdout, context in environment variables ([`ExecutableHandler`]);
//! * **worker** (`worker:./serve.pl`): one long-lived process serving many invocations over the
//!   framed protocol of `PROTOCOL.md` ([`WorkerHandler`], [`protocol`]);
//! * **function** (`handler.handle`): a Perl, Python or shell function, run by an adapter that
//!   shipped in the layer and speaks the worker protocol.
//!
//! The core is independent of the Runtime API: a [`Handler`] turns event bytes and a
//! [`Context`] into response bytes or an [`InvocationError`]; [`run`] is the thin glue that
//! feeds it from `lamina-runtime`'s loop, and all the `bootstrap` binary does.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod environment;
pub mod error_types;
mod executable;
mod handler_spec;
mod init_error;
mod invocation;
mod language;
mod lines;
mod log;
mod process;
pub mod protocol;
mod run;
mod web;
mod worker;

pub use environment::{
    ChildEnvironment, MAX_CHILD_ENVIRONMENT_BYTES, MAX_ENV_FILE_BYTES, Settings,
};
pub use executable::ExecutableHandler;
pub use handler_spec::{HandlerSpec, load_handler, load_handlers};
pub use init_error::InitError;
pub use invocation::{
    Answer, Collected, Context, Handler, InvocationError, ResponseSink, context_variables, cutoff,
    names,
};
pub use language::Language;
pub use log::Log;
pub use run::{Pool, run};
pub use web::{WebCommand, WebHandler};
pub use worker::{WorkerCommand, WorkerHandler};
