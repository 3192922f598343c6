//! `cargo lamina`'s library: what the CLI does, for the `cargo-lamina` binary (thin glue
//! over it) and for lamina's own `cargo xtask` chores.
//!
//! - [`arch`]: `--arch x86_64 | arm64 | all`;
//! - [`project`]: finds the functions of any Cargo package or workspace, or folder of scripts;
//! - [`suggest`]: "did you mean" for a mistyped name;
//! - [`spec`]: `lamina.toml`, one function's spec, checked against Lambda's limits;
//! - [`compile`]: the reproducible cross-compile recipe (static musl, `rust-lld`);
//! - [`package`], [`layer`], [`pipeline`]: function and layer zips, byte for byte;
//! - [`check`]: what in any zip would fail on Lambda;
//! - [`invoke`]: what `cargo lamina invoke` runs, decided apart from running it;
//! - [`local`]: the local Lambda set up for `invoke` and `serve`;
//! - [`deploy`]: a project's functions as `lamina-deploy` inputs;
//! - [`new`]: function templates.

#![cfg_attr(test, allow(clippy::unwrap_used))] // Tests fail loudly on purpose.

pub mod arch;
pub mod check;
pub mod compile;
pub mod deploy;
pub mod invoke;
pub mod layer;
pub mod local;
pub mod new;
pub mod package;
pub mod pipeline;
pub mod project;
pub mod spec;
pub mod suggest;
