//! Header names of the Lambda Runtime API (`2018-06-01`), spelled as AWS documents them.
//!
//! HTTP header names are case-insensitive; [`Context::from_headers`](crate::Context::from_headers)
//! compares them ignoring ASCII case.

/// Request id of the invocation (`GET /next` answer). Required.
pub const REQUEST_ID: &str = "Lambda-Runtime-Aws-Request-Id";
/// Deadline of the invocation in milliseconds since the Unix epoch (`GET /next` answer). Required.
pub const DEADLINE_MS: &str = "Lambda-Runtime-Deadline-Ms";
/// ARN of the function (or alias) that was invoked (`GET /next` answer).
pub const INVOKED_FUNCTION_ARN: &str = "Lambda-Runtime-Invoked-Function-Arn";
/// AWS X-Ray tracing header (`GET /next` answer); exported as `_X_AMZN_TRACE_ID` by runtimes.
pub const TRACE_ID: &str = "Lambda-Runtime-Trace-Id";
/// Client context JSON sent by the AWS Mobile SDK (`GET /next` answer).
pub const CLIENT_CONTEXT: &str = "Lambda-Runtime-Client-Context";
/// Amazon Cognito identity JSON (`GET /next` answer).
pub const COGNITO_IDENTITY: &str = "Lambda-Runtime-Cognito-Identity";
/// Tenant id for functions with tenant isolation (`GET /next` answer).
pub const TENANT_ID: &str = "Lambda-Runtime-Aws-Tenant-Id";
/// A nonce naming one delivery of an invocation (`GET /next` answer), distinct from the
/// request id, which callers and retries may reuse. A runtime echoes it on the invocation's
/// `/response` and `/error` (streamed or not) so that a late answer of a timed-out invocation
/// is refused instead of answering a later one under the same request id; absent, nothing is
/// echoed and nothing is checked (AWS's Runtime API since July 2026).
pub const INVOCATION_ID: &str = "Lambda-Runtime-Invocation-Id";
/// Error type of a failed invocation or init (`POST .../error` request); equals the body's `errorType`.
pub const FUNCTION_ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type";
/// Error body of a streamed response that failed after its first byte, base64 (HTTP trailer).
pub const FUNCTION_ERROR_BODY: &str = "Lambda-Runtime-Function-Error-Body";
/// `streaming` for a streamed response (`POST .../response` request).
pub const FUNCTION_RESPONSE_MODE: &str = "Lambda-Runtime-Function-Response-Mode";
