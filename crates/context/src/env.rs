//! Names of the environment variables Lambda sets for a function (provided.al2023).

/// `host:port` of the Runtime API. The only variable [`Config`](crate::Config) requires.
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
/// The function's handler setting, free-form for custom runtimes.
pub const HANDLER: &str = "_HANDLER";
/// Folder holding the function's code (`/var/task`).
pub const TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
/// Name of the function.
pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// Version of the function being run (`$LATEST` or a number).
pub const FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
/// Memory given to the function, in MB.
pub const FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
/// CloudWatch Logs group of the function.
pub const LOG_GROUP_NAME: &str = "AWS_LAMBDA_LOG_GROUP_NAME";
/// CloudWatch Logs stream of this execution environment.
pub const LOG_STREAM_NAME: &str = "AWS_LAMBDA_LOG_STREAM_NAME";
/// Region the function runs in.
pub const REGION: &str = "AWS_REGION";
/// Region default for AWS SDKs; used when [`REGION`] is unset.
pub const DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// `on-demand`, `provisioned-concurrency` or `snap-start`.
pub const INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
/// `Text` or `JSON`.
pub const LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
/// Application log level: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
pub const LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// How many `/next` calls one runtime process may have outstanding (Lambda Managed Instances).
pub const MAX_CONCURRENCY: &str = "AWS_LAMBDA_MAX_CONCURRENCY";
/// X-Ray trace header of the current invocation, exported by sequential runtimes.
pub const TRACE_ID: &str = "_X_AMZN_TRACE_ID";
