//! Deploys Lambda functions and layers with the AWS SDK for Rust, for `cargo lamina`.
//!
//! The caller describes each function as plain values ([`FunctionPlanInput`]); this crate
//! knows nothing of `lamina.toml`. The steps:
//!
//! - [`connect`] builds a Lambda client from the standard AWS chain ([`ClientOptions`]).
//! - [`plan`] reads the account and says what a deploy would do, item by item, with the
//!   reason ([`Plan`] prints it: that is `--dry-run`); [`plan_layers`] does it for layers alone.
//! - [`apply`] carries a plan out, waiting (bounded) for each function to settle between
//!   updates, optionally publishing a version and moving an alias.
//! - [`state`] compares local and deployed, key by key ([`StateReport`]: text or JSON).
//! - [`prune_layers`] deletes layer versions nothing uses, keeping the newest N.
//! - [`invoke_remote`] invokes the deployed function and decodes its log tail;
//!   [`invoke_remote_stream`] reads a streaming function's response as it comes.
//! - `create_basic_role` (feature `iam`) makes a basic execution role for `--create-role`.
//!
//! Every failure is a [`DeployError`] that names the AWS error code and says what to do.

mod apply;
mod calls;
mod client;
mod diff;
mod error;
#[cfg(feature = "iam")]
mod iam;
mod input;
mod invoke;
mod plan;
mod prune;
mod remote;
mod state;
mod upload;

pub use apply::{ApplyOptions, ApplyReport, FunctionReport, apply};
pub use client::{ClientOptions, config_loader, connect, lambda_client};
pub use diff::{Change, PlannedLayer, TagChanges};
pub use error::DeployError;
#[cfg(feature = "iam")]
pub use iam::{BASIC_EXECUTION_POLICY, BasicRole, basic_role_name, create_basic_role};
pub use input::{Arch, FunctionPlanInput, LayerRef, LocalLayer, Vpc, code_sha256};
pub use invoke::{InvokeOutcome, StreamOutcome, invoke_remote, invoke_remote_stream};
pub use plan::{FunctionAction, FunctionPlan, LayerAction, LayerPlan, Plan, plan, plan_layers};
pub use prune::{PruneReport, prune_layers};
pub use state::{FunctionState, LayerBehind, StateReport, state};
pub use upload::DIRECT_UPLOAD_LIMIT;
#[cfg(feature = "s3")]
pub use upload::{S3Upload, s3_client};

/// The SDK this crate is built on, so that callers name its `Client` without a dependency
/// of their own (and so without a version mismatch).
pub use aws_sdk_lambda;

/// The IAM SDK, for the client `create_basic_role` takes.
#[cfg(feature = "iam")]
pub use aws_sdk_iam;

/// The S3 SDK, for [`S3Upload`]'s client.
#[cfg(feature = "s3")]
pub use aws_sdk_s3;
