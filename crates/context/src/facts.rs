//! Facts about AWS Lambda's `provided.al2023` runtime that every lamina crate relies on.
//!
//! One home for each: the emulator, the runtime client, the bootstrap, the layer builder and the
//! CLI read these instead of spelling them again, so that a value changed here changes
//! everywhere and no two crates disagree (they once did: `/usr/bin` against `/usr/bin/`).
//! Sources are named beside each value; `../shared/reference/lambda-facts.md` in the
//! repository's workspace gathers them.

/// `PATH` as Lambda sets it for `provided.al2023` (the trailing slash on `/usr/bin/` is
/// Lambda's own spelling, seen in a real function's environment).
pub const PATH: &str = "/usr/local/bin:/usr/bin/:/bin:/opt/bin";

/// `LD_LIBRARY_PATH` as Lambda sets it for `provided.al2023`, for a function whose task root is
/// `task_root` (`/var/task` on Lambda).
pub fn ld_library_path(task_root: &str) -> String {
    format!("/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:{task_root}:{task_root}/lib:/opt/lib")
}

/// The glibc of `provided.al2023` (Amazon Linux 2023), for messages: a program that needs a
/// newer symbol version does not start there. (`lamina-elf`'s `GlibcVersion::AL2023` is the
/// same number, as a value its checks compare with.)
pub const GLIBC_VERSION: &str = "2.34";

/// Where Lambda unpacks the function's zip.
pub const TASK_ROOT: &str = "/var/task";
/// Where Lambda unpacks the function's layers, in order.
pub const OPT_DIR: &str = "/opt";
/// The folder of a layer that AWS's managed Python runtimes put on `sys.path` (with
/// `python/lib/python3.X/site-packages`; AWS Lambda Developer Guide, "Packaging your layer
/// content"): where `[[pip]]` installs a layer's Python packages.
pub const LAYER_PYTHON_DIR: &str = "/opt/python";
/// The only writable folder a function has.
pub const TMP_DIR: &str = "/tmp";

/// The largest synchronous (`RequestResponse`) Invoke request payload: 6 MB, 6 MiB exactly
/// (AWS refuses more with 413 "Request must be smaller than 6291456 bytes for the
/// InvokeFunction operation").
pub const MAX_SYNC_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// The largest buffered response a runtime may post: 6 MB, which Lambda counts as 6 MiB plus
/// the 100 bytes of its JSON framing (AWS's emulator's number, and the one in Lambda's
/// `Function.ResponseSizeTooLarge` message).
pub const MAX_SYNC_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;
/// The largest `X-Amz-Client-Context` (`ClientContext`): 3,583 bytes of base64-encoded data.
pub const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;
/// The largest asynchronous (`Event`) payload: 1 MB since October 2025 (256 KB before).
pub const MAX_ASYNC_PAYLOAD_BYTES: usize = 1024 * 1024;
/// The largest streamed response (`InvokeWithResponseStream`, a streaming Function URL):
/// 200 MB by default.
pub const MAX_STREAMED_RESPONSE_BYTES: u64 = 200 * 1024 * 1024;
/// A streamed response is sent at full speed for its first 6 MB, then throttled by Lambda
/// to 2 MB/s (documented; lamina does not throttle).
pub const STREAM_UNTHROTTLED_BYTES: u64 = 6 * 1024 * 1024;
/// The content type of a streamed response that opens with an HTTP prelude (status, headers,
/// cookies as JSON), which a Function URL turns into its HTTP response.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";
/// Ends the HTTP prelude of an [`HTTP_INTEGRATION_CONTENT_TYPE`] stream: 8 NUL bytes.
pub const PRELUDE_DELIMITER: [u8; 8] = [0; 8];
/// The largest unzipped size of a function and all its layers together.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// The largest zip accepted by a direct upload (`ZipFile`); larger ones go through S3.
pub const MAX_DIRECT_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
/// The most layers a function can use.
pub const MAX_LAYERS: usize = 5;
/// Lambda splits a log line longer than this (256 KiB) into several records.
pub const MAX_LOG_LINE_BYTES: u64 = 256 * 1024;
/// The tail of the log returned in `X-Amz-Log-Result` with `LogType: Tail`: the last 4 KB.
pub const LOG_TAIL_BYTES: usize = 4 * 1024;
/// Retries of a failed asynchronous invocation, by default (0, 1 or 2 may be configured).
pub const ASYNC_DEFAULT_RETRIES: u32 = 2;
/// The most retries of a failed asynchronous invocation that may be configured.
pub const ASYNC_MAX_RETRIES: u32 = 2;
/// How long Lambda waits before each retry of a failed asynchronous invocation: about one
/// minute before the first, two minutes before the second (documented as approximate).
pub const ASYNC_RETRY_DELAYS: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(60),
    std::time::Duration::from_secs(120),
];
/// The `condition` of an on-failure destination record whose event failed every attempt.
pub const ASYNC_RETRIES_EXHAUSTED: &str = "RetriesExhausted";
/// The kernel's limit on one argument or environment string (`MAX_ARG_STRLEN`, 32 pages):
/// a longer value makes every `execve` fail with `E2BIG`.
pub const MAX_ENV_STRING_BYTES: usize = 128 * 1024;
/// Lambda's limit on a function's environment variables: "the total size of all environment
/// variables doesn't exceed 4 KB" (Lambda quotas, "Function configuration, deployment, and
/// execution"), counted as AWS counts it: each key and value, in bytes.
pub const MAX_ENVIRONMENT_BYTES: usize = 4 * 1024;
/// Lambda's limit on processes and threads in one execution environment ("Number of processes
/// or threads: 1,024", Lambda quotas): a sandbox's cgroup gets it as `pids.max`.
pub const MAX_PROCESSES: u32 = 1024;
/// The most invocations one execution environment may run at once
/// (`PerExecutionEnvironmentMaxConcurrency` of Lambda Managed Instances, valid range 1 to 1,600:
/// AWS::Lambda::Function LambdaManagedInstancesCapacityProviderConfig); the runtime sees it as
/// `AWS_LAMBDA_MAX_CONCURRENCY`.
pub const MAX_CONCURRENCY_RANGE: std::ops::RangeInclusive<u32> = 1..=1600;
/// The memory sizes Lambda accepts, in MB.
pub const MEMORY_MB_RANGE: std::ops::RangeInclusive<u32> = 128..=10_240;
/// The timeouts Lambda accepts, in seconds.
pub const TIMEOUT_S_RANGE: std::ops::RangeInclusive<u32> = 1..=900;
/// The `/tmp` sizes Lambda accepts, in MB (512 by default).
pub const EPHEMERAL_STORAGE_MB_RANGE: std::ops::RangeInclusive<u32> = 512..=10_240;
/// The account id the emulator answers with in ARNs.
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";
/// The region the emulator reports when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The `errorType` values Lambda itself reports (never a handler's own).
pub mod error_type {
    /// The runtime process exited (`Runtime exited with error: exit status 1`).
    pub const EXIT: &str = "Runtime.ExitError";
    /// The function's processes went over its memory size.
    pub const OUT_OF_MEMORY: &str = "Runtime.OutOfMemory";
    /// The invocation or the init ran past its time.
    pub const TIMEOUT: &str = "Sandbox.Timedout";
    /// The function errored without saying what kind of error.
    pub const UNKNOWN: &str = "Runtime.Unknown";
    /// The bootstrap is missing or cannot be executed.
    pub const INVALID_ENTRYPOINT: &str = "Runtime.InvalidEntrypoint";
    /// The response is over [`MAX_SYNC_RESPONSE_BYTES`](super::MAX_SYNC_RESPONSE_BYTES).
    pub const RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";
    /// The runtime reported an init error and exited, or failed to start its container.
    pub const CONTAINER: &str = "Runtime.ContainerError";
    /// The handler's interpreter or program is not in the AL2023 image nor in a layer.
    pub const INTERPRETER_NOT_FOUND: &str = "Runtime.InterpreterNotFound";
    /// The runtime's answer to a delivered invocation could not be read to its end (its
    /// connection broke, its trailers were over the Runtime API's limit): the invocation
    /// fails with it rather than waiting for an answer that will not come.
    pub const TRUNCATED_RESPONSE: &str = "Runtime.TruncatedResponse";
}

/// Lambda's error body, `{"errorMessage": ..., "errorType": ...}`, as JSON bytes: the answer to
/// a failed invoke and the body the Runtime API's error endpoints take.
pub fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::json!({ "errorMessage": message, "errorType": error_type })
        .to_string()
        .into_bytes()
}

/// How a process ended, worded as Lambda words it (Go's `ProcessState.String()`):
/// `exit status 3`, `signal: killed`, `signal: segmentation fault`. `code` is the exit code of
/// a process that exited, `signal` the number of the signal that ended one that did not.
pub fn exit_wording(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("signal: {}", signal_name(signal)),
        (None, None) => "unknown exit".to_string(),
    }
}

/// The message Lambda logs and returns when the runtime process ends during an invocation.
pub fn runtime_exited(code: Option<i32>, signal: Option<i32>) -> String {
    format!("Runtime exited with error: {}", exit_wording(code, signal))
}

/// A setting outside the range Lambda accepts: the value with its unit, and Lambda's range in
/// words. Every crate refuses with these words, whether the value came from `lamina.toml`, a
/// flag, the library's configuration or the environment; the caller adds where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value}: {allowed}")]
pub struct OutOfRange {
    /// The value refused, with its unit (`"0 s"`, `"64 MB"`).
    pub value: String,
    /// What Lambda allows (`"Lambda allows 1 to 900 seconds"`).
    pub allowed: String,
}

/// Checks a memory size in MB against [`MEMORY_MB_RANGE`].
pub fn check_memory_mb(mb: u64) -> Result<u32, OutOfRange> {
    check_range(mb, MEMORY_MB_RANGE, "MB", "Lambda allows {} to {} MB")
}

/// Checks a `/tmp` size in MB against [`EPHEMERAL_STORAGE_MB_RANGE`].
pub fn check_ephemeral_storage_mb(mb: u64) -> Result<u32, OutOfRange> {
    check_range(
        mb,
        EPHEMERAL_STORAGE_MB_RANGE,
        "MB",
        "Lambda allows {} to {} MB",
    )
}

/// Checks an instance's concurrency against [`MAX_CONCURRENCY_RANGE`].
pub fn check_max_concurrency(slots: u64) -> Result<u32, OutOfRange> {
    check_range(
        slots,
        MAX_CONCURRENCY_RANGE,
        "",
        "Lambda Managed Instances run {} to {} invocations at once in one execution environment \
         (PerExecutionEnvironmentMaxConcurrency)",
    )
}

/// Checks a timeout against [`TIMEOUT_S_RANGE`]. Fractions are allowed (a local run may time
/// out sooner than Lambda can); NaN and infinities are refused.
pub fn check_timeout(seconds: f64) -> Result<std::time::Duration, OutOfRange> {
    let (min, max) = (*TIMEOUT_S_RANGE.start(), *TIMEOUT_S_RANGE.end());
    if seconds.is_finite() && (f64::from(min)..=f64::from(max)).contains(&seconds) {
        return Ok(std::time::Duration::from_secs_f64(seconds));
    }
    Err(OutOfRange {
        value: format!("{seconds} s"),
        allowed: format!("Lambda allows {min} to {max} seconds"),
    })
}

fn check_range(
    value: u64,
    range: std::ops::RangeInclusive<u32>,
    unit: &str,
    allowed: &str,
) -> Result<u32, OutOfRange> {
    match u32::try_from(value) {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(OutOfRange {
            value: if unit.is_empty() {
                value.to_string()
            } else {
                format!("{value} {unit}")
            },
            allowed: allowed
                .replacen("{}", &range.start().to_string(), 1)
                .replacen("{}", &range.end().to_string(), 1),
        }),
    }
}

/// Go's (and so Lambda's) name for a Linux signal number.
fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        10 => "user defined signal 1",
        11 => "segmentation fault",
        12 => "user defined signal 2",
        13 => "broken pipe",
        14 => "alarm clock",
        15 => "terminated",
        24 => "CPU time limit exceeded",
        25 => "file size limit exceeded",
        31 => "bad system call",
        other => return format!("signal {other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_worded_like_lambda() {
        assert_eq!(exit_wording(Some(134), None), "exit status 134");
        assert_eq!(exit_wording(None, Some(6)), "signal: aborted");
        assert_eq!(exit_wording(None, Some(9)), "signal: killed");
        assert_eq!(exit_wording(None, Some(64)), "signal: signal 64");
        assert_eq!(
            runtime_exited(None, Some(11)),
            "Runtime exited with error: signal: segmentation fault"
        );
    }

    #[test]
    fn ranges_are_checked_in_lambdas_words() {
        assert_eq!(check_memory_mb(128), Ok(128));
        assert_eq!(check_memory_mb(10_240), Ok(10_240));
        assert_eq!(
            check_memory_mb(10_241).map_err(|e| e.to_string()),
            Err("10241 MB: Lambda allows 128 to 10240 MB".into())
        );
        assert_eq!(
            check_ephemeral_storage_mb(511).map_err(|e| e.to_string()),
            Err("511 MB: Lambda allows 512 to 10240 MB".into())
        );
        assert_eq!(
            check_max_concurrency(4_294_967_295).map_err(|e| e.to_string()),
            Err(
                "4294967295: Lambda Managed Instances run 1 to 1600 invocations at once in \
                 one execution environment (PerExecutionEnvironmentMaxConcurrency)"
                    .into()
            )
        );
        assert_eq!(check_max_concurrency(1600), Ok(1600));
        assert!(check_timeout(0.5).is_err());
        assert!(check_timeout(f64::NAN).is_err());
        assert_eq!(
            check_timeout(900.0),
            Ok(std::time::Duration::from_secs(900))
        );
        assert_eq!(
            check_timeout(0.0).map_err(|e| e.to_string()),
            Err("0 s: Lambda allows 1 to 900 seconds".into())
        );
    }

    #[test]
    fn error_body_is_lambdas_shape() {
        assert_eq!(
            String::from_utf8_lossy(&error_body("Runtime.ExitError", "a \"quoted\" text")),
            r#"{"errorMessage":"a \"quoted\" text","errorType":"Runtime.ExitError"}"#
        );
    }

    #[test]
    fn ld_library_path_puts_the_system_first_and_opt_last() {
        assert_eq!(
            ld_library_path(TASK_ROOT),
            "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
        );
    }
}
