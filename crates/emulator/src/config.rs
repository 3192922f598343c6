//! What the emulator runs: functions and how the emulator itself listens.

use std::path::PathBuf;
use std::time::Duration;

/// One function served by the emulator, with Lambda's defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FunctionConfig {
    /// Function name: part of the ARN, the log group and the Invoke API path.
    pub name: String,
    /// The executable started as the function's runtime (Lambda's `bootstrap`).
    pub executable: PathBuf,
    /// How long one invocation may run before the process is killed. Default 3 s (AWS's default).
    pub timeout: Duration,
    /// How long a process may take to reach its first `/next` before it is killed and the
    /// waiting invocation fails with `Sandbox.Timedout`. Default 10 s, Lambda's init limit.
    pub init_timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` and `Memory Size` in REPORT lines. Default 128.
    pub memory_mb: u32,
    /// Most instances (processes) running at once. Default 1.
    pub concurrency: usize,
    /// Most invocations one instance serves at once (`AWS_LAMBDA_MAX_CONCURRENCY`, Lambda
    /// Managed Instances): its runtime polls `/next` once per slot. Default 1; at most
    /// 1,600 ([`lamina_context::facts::MAX_CONCURRENCY_RANGE`]), beyond which
    /// [`crate::Emulator::start`] refuses it.
    pub max_concurrency: usize,
    /// Working directory and `LAMBDA_TASK_ROOT`. Default: the executable's folder.
    pub task_root: PathBuf,
    /// `_HANDLER`. Default `bootstrap`.
    pub handler: String,
    /// Extra environment, set after (and so overriding) Lambda's own variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments given to the executable.
    pub args: Vec<String>,
    /// Host folders shown to the function at `/var/task` and `/opt` (user and mount
    /// namespaces, see [`crate::layout`]). Then `executable` and `task_root` are paths as the
    /// function sees them, e.g. `/var/task/bootstrap`. Default: none, the host's view.
    pub mounts: Option<LambdaMounts>,
    /// Its Function URL's invoke mode is `RESPONSE_STREAM`: the front door streams its answer
    /// to the HTTP client as the function writes it. Default: `BUFFERED`.
    pub response_streaming: bool,
    /// Its tenancy (AWS's `TenancyConfig`). Default [`Tenancy::Shared`].
    pub tenancy: Tenancy,
    /// Log each instance's set-up time (set from [`EmulatorConfig::verbose`]).
    pub(crate) verbose: bool,
}

/// Whether a function's execution environments are shared by all callers or dedicated to one
/// tenant (AWS's `TenancyConfig.TenantIsolationMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tenancy {
    /// No tenant isolation (no `TenancyConfig`): any instance serves any invocation, and an
    /// invocation naming a tenant (`X-Amz-Tenant-Id`) is refused, as AWS refuses it.
    #[default]
    Shared,
    /// `PER_TENANT`: every invocation names its tenant (`X-Amz-Tenant-Id`, else AWS's 400
    /// `InvalidParameterValueException`), its runtime reads it as `Lambda-Runtime-Aws-Tenant-Id`,
    /// and an instance serves one tenant for life: a tenant without a free instance gets a new
    /// one, and at the function's concurrency an idle instance of another tenant is ended
    /// to make room.
    PerTenant,
}

/// Host folders to show at Lambda's paths.
#[derive(Debug, Clone)]
pub struct LambdaMounts {
    /// Shown at `/var/task`.
    pub task: PathBuf,
    /// Shown at `/opt` (the host's `/opt` is hidden, as on Lambda only layers are there).
    pub opt: PathBuf,
    /// What else of the host the function sees. Default [`View::Host`].
    pub view: View,
}

/// How much of the host a function run with [`LambdaMounts`] sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum View {
    /// The host's whole file system (plus `/var/task` and `/opt`) and the host's `PATH`
    /// after Lambda's: local interpreters and tools are found.
    #[default]
    Host,
    /// What `provided.al2023` shows (see [`crate::view`]): of the host's `PATH` folders only
    /// the commands the AL2023 minimal image has (no `python3`, no `perl`), Lambda's `PATH`
    /// alone, `/var/task`, `/opt` and the root mount read-only, and a fresh `/tmp` of
    /// `ephemeral_storage_mb` (Lambda's ephemeral storage, 512 to 10,240 MB).
    Al2023 {
        /// Size of the function's own `/tmp`, in MB.
        ephemeral_storage_mb: u32,
    },
}

impl View {
    /// Lambda's default ephemeral storage (`/tmp`), in MB.
    pub const DEFAULT_EPHEMERAL_STORAGE_MB: u32 = 512;

    /// The AL2023 view with Lambda's default 512 MB `/tmp`.
    pub fn al2023() -> Self {
        View::Al2023 {
            ephemeral_storage_mb: Self::DEFAULT_EPHEMERAL_STORAGE_MB,
        }
    }
}

impl FunctionConfig {
    /// A function named `name` run by `executable`, with AWS's defaults for everything else.
    pub fn new(name: impl Into<String>, executable: impl Into<PathBuf>) -> Self {
        let executable = executable.into();
        let task_root = executable
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        FunctionConfig {
            name: name.into(),
            executable,
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            memory_mb: 128,
            concurrency: 1,
            max_concurrency: 1,
            task_root,
            handler: "bootstrap".into(),
            env: Vec::new(),
            args: Vec::new(),
            mounts: None,
            response_streaming: false,
            tenancy: Tenancy::default(),
            verbose: false,
        }
    }
}

/// The emulator's settings: the functions it serves and where it listens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// The functions served. With exactly one, any function name in the Invoke API path reaches it.
    pub functions: Vec<FunctionConfig>,
    /// Port of the Invoke API on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// Start no processes: each function gets one Runtime API endpoint, created at start, that
    /// a runtime started by hand (e.g. under a debugger) talks to. See [`crate::Emulator::runtime_api`].
    pub runtime_api_only: bool,
    /// Port of the first function's Runtime API in `runtime_api_only` mode; 0 (the default)
    /// picks a free one. Other endpoints always use a free port.
    pub runtime_api_port: u16,
    /// Also copy every log line (function output, START/END/REPORT) to the emulator's stderr.
    pub log_to_stderr: bool,
    /// Also log, per instance, the emulator's own set-up before its bootstrap runs (cgroup,
    /// namespaces, the view's mounts): Lambda does not count it in Init Duration, and neither
    /// does the emulator, so it is shown apart, in the function's log. Default: off.
    pub verbose: bool,
    /// Answer an unknown function name with AWS's 404 `ResourceNotFoundException` even when
    /// only one function is served (by default a lone function answers to any name).
    pub strict_names: bool,
    /// How `Event` (asynchronous) invocations are queued, retried and recorded.
    pub async_invokes: AsyncConfig,
    /// How many connections the Invoke API keeps open and how long it waits for headers.
    pub connections: ConnectionLimits,
    /// The event a plain HTTP request becomes at the front door (`/lambda-url/<function>/`,
    /// and [`http_port`](Self::http_port)). Default: a Function URL event (payload 2.0).
    pub http_event: crate::front_door::event::HttpEventKind,
    /// Also serve the first function's front door at `/` on this port of 127.0.0.1 (0 picks a
    /// free one): the function as its Function URL would answer. Default: none.
    pub http_port: Option<u16>,
    /// `Host`s answered besides `localhost`, `127.0.0.1`, `[::1]` and the address listened
    /// on (any port): a request naming another host is refused (403), so that a web page
    /// cannot reach local functions through DNS rebinding. `*` allows any. Default: none.
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s (e.g. `http://localhost:3000`) whose pages may call the Invoke API,
    /// besides the emulator's own front door; a request from another is refused (403), so that
    /// a web page cannot invoke local functions. Requests without `Origin` (AWS's CLIs and
    /// SDKs) are always answered, and the front door answers any origin, as a Function URL
    /// does. `*` allows any. Default: none.
    pub allowed_origins: Vec<String>,
}

/// Asynchronous (`Event`) invocations: Lambda's retries, and bounds on what waits in memory.
///
/// An accepted event holds its place in the queue until it is finished: run successfully,
/// or failed on every attempt (and recorded in `on_failure`), including while it waits
/// between retries. An event that would take the queue past either bound is refused with
/// 429 `TooManyRequestsException`, AWS's throttling answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AsyncConfig {
    /// Retries of an invocation that failed (error, crash, timeout), 0 to 2. Default 2, Lambda's.
    pub retries: u32,
    /// The wait before the first and the second retry. Default 1 min and 2 min, Lambda's.
    pub retry_delays: [Duration; 2],
    /// Where an event that failed every attempt is written, one JSON file per event, in the
    /// shape of Lambda's on-failure destination record. Default: nowhere (dropped). Created
    /// if missing.
    pub on_failure: Option<PathBuf>,
    /// Most events accepted and not yet finished, over all functions. Default 10,000.
    pub max_queued_events: usize,
    /// Most payload bytes of those events together. Default 64 MiB: 64 events at the
    /// 1 MB payload limit, so a burst of events cannot grow the emulator without bound.
    pub max_queued_bytes: usize,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            retries: lamina_context::facts::ASYNC_DEFAULT_RETRIES,
            retry_delays: lamina_context::facts::ASYNC_RETRY_DELAYS,
            on_failure: None,
            max_queued_events: 10_000,
            max_queued_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Bounds on the Invoke API's connections, so that clients that connect and never finish a
/// request cannot stop others from being answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// A connection that has not sent a whole request head (line and headers) this long after
    /// it started one, or after its last answer (an idle keep-alive connection), is closed.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// Most connections open at once. At the cap a new connection closes an idle one (first
    /// one that never sent a request, else the one idle longest), never one whose request is
    /// being answered; only when all are being answered is the newcomer closed at once.
    /// Default 1,000, Lambda's default concurrency quota. (Where the limit of open files is
    /// the common 1,024, connections past it wait in the listen queue instead.)
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1000,
        }
    }
}

impl EmulatorConfig {
    /// Serves `functions` on a free port of 127.0.0.1, starting their processes on demand.
    pub fn new(functions: Vec<FunctionConfig>) -> Self {
        EmulatorConfig {
            functions,
            port: 0,
            runtime_api_only: false,
            runtime_api_port: 0,
            log_to_stderr: false,
            verbose: false,
            strict_names: false,
            async_invokes: AsyncConfig::default(),
            connections: ConnectionLimits::default(),
            http_event: crate::front_door::event::HttpEventKind::default(),
            http_port: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}
