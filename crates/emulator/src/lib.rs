//! A local AWS Lambda: the Runtime API a bootstrap talks to, the Invoke API callers use, and
//! supervision of the function's processes, following AWS's semantics (status codes, headers,
//! limits, log lines) rather than any one runtime's.
//!
//! ```no_run
//! use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
//!
//! let function = FunctionConfig::new("hello", "/path/to/bootstrap");
//! let emulator = Emulator::start(EmulatorConfig::new(vec![function]))?;
//! println!("POST {}", emulator.invoke_url("hello"));
//! # Ok::<(), lamina_emulator::EmulatorError>(())
//! ```
//!
//! Every instance (process) of a function gets its own Runtime API listener on 127.0.0.1,
//! so each result is attributed to the process that sent it. Instances start when an
//! invocation waits and every running one is busy, up to the function's concurrency. A
//! function that runs past its timeout is killed with everything it started (its process
//! group); one that exits while an invocation is outstanding answers that invocation with
//! `Runtime.ExitError`. The next invocation starts a fresh process either way.

/// `eprintln!` that never panics: a closed stderr (a terminal gone after SIGHUP, a reader
/// that exited) makes the emulator's warnings and copied log lines go nowhere instead of
/// panicking the task or thread that wrote them (EPIPE and EIO are ignored).
macro_rules! to_stderr {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod access;
mod asynchronous;
mod cgroup;
mod config;
pub mod event_stream;
mod front_door;
mod function;
mod http;
mod ids;
mod instance;
mod instance_io;
mod invocation;
mod invoke_api;
pub mod layout;
mod logs;
mod process;
mod refusal;
mod runtime_api;
mod shared;
mod stream_api;
mod tenancy;
pub mod view;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use lamina_context::facts;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

pub use config::{
    AsyncConfig, ConnectionLimits, EmulatorConfig, FunctionConfig, LambdaMounts, Tenancy, View,
};
pub use front_door::HttpEventKind;
pub use invoke_api::COGNITO_IDENTITY_HEADER;

use access::Access;
use function::Function;
use invocation::{Completion, Invocation, StreamPart};
use shared::Shared;

/// Largest synchronous request payload, in bytes (6 MiB, as AWS's Invoke API). Above it: 413.
/// (The emulator itself reads [`facts::MAX_SYNC_REQUEST_BYTES`]; this names it for users.)
pub const MAX_REQUEST_BYTES: usize = facts::MAX_SYNC_REQUEST_BYTES;

/// Largest buffered response a runtime may post, in bytes (6 × 1024 × 1024 + 100, as AWS's
/// emulator). Above it: 413 to the runtime, `Function.ResponseSizeTooLarge` to the caller.
pub const MAX_RESPONSE_BYTES: usize = facts::MAX_SYNC_RESPONSE_BYTES;

/// Largest asynchronous (`Event`) request payload, in bytes (1 MB). Above it: 413.
pub const MAX_ASYNC_PAYLOAD_BYTES: usize = facts::MAX_ASYNC_PAYLOAD_BYTES;

/// Why the emulator could not start or serve a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The configuration lists no function.
    #[error("no function to serve: the configuration lists none")]
    NoFunctions,
    /// Two functions share a name.
    #[error("two functions are named `{0}`; names must be unique")]
    DuplicateFunction(String),
    /// A function's settings are outside what Lambda allows.
    #[error("function `{name}`: {reason}")]
    InvalidFunction {
        /// The function at fault.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An emulator-wide setting is outside what is allowed.
    #[error("{0}")]
    InvalidSetting(String),
    /// The on-failure folder for asynchronous invocations cannot be created.
    #[error("cannot create the on-failure folder {}: {source}", path.display())]
    OnFailureFolder {
        /// The folder asked for.
        path: std::path::PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The async runtime could not be created.
    #[error("cannot start the emulator's async runtime: {0}")]
    Runtime(std::io::Error),
    /// No function has this name.
    #[error("no function named `{0}`")]
    UnknownFunction(String),
    /// The payload is above [`MAX_REQUEST_BYTES`].
    #[error("payload of {0} bytes is above Lambda's limit of {MAX_REQUEST_BYTES} bytes")]
    PayloadTooLarge(usize),
    /// The payload is not JSON.
    #[error("{0}")]
    InvalidPayload(String),
    /// The emulator was shut down before the invocation was answered.
    #[error("the emulator was shut down before the invocation was answered")]
    Stopped,
    /// The tenant given and the function's [`Tenancy`] disagree: a function with tenant
    /// isolation invoked without a tenant, or one without it invoked with one (AWS: 400
    /// `InvalidParameterValueException`).
    #[error("function `{function}`: {reason}")]
    Tenancy {
        /// The function invoked.
        function: String,
        /// What is wrong, and what to do.
        reason: String,
    },
}

/// What [`Emulator::invoke`] returns: the same facts the Invoke API answers with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Invoked {
    /// The invocation's request id.
    pub request_id: String,
    /// The function's response, or the error JSON when `function_error` is set.
    pub payload: Vec<u8>,
    /// `Some("Unhandled")` when the function failed (error, crash, timeout).
    pub function_error: Option<String>,
    /// The last 4 KiB of this invocation's log, START to REPORT.
    pub log_tail: String,
}

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) kills every function process.
pub struct Emulator {
    shared: Arc<Shared>,
    handle: Handle,
    runtime: Mutex<Option<Runtime>>,
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
}

/// Serves `function`'s front door at `/` on `port` of 127.0.0.1. Call inside the runtime.
fn front_door_listener(
    port: u16,
    function: Arc<Function>,
    shared: &Arc<Shared>,
    limits: http::Limits,
) -> Result<SocketAddr, EmulatorError> {
    let bind_error = |source| EmulatorError::Bind {
        addr: format!("127.0.0.1:{port}"),
        source,
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
    let kind = shared.http_event;
    let host = addr.to_string();
    shared.access.listening_on(addr);
    let shared = Arc::clone(shared);
    tokio::spawn(http::serve_with(listener, limits, move |request, _peer| {
        let (function, host) = (Arc::clone(&function), host.clone());
        // A function's URL answers pages of any origin, as on AWS; the host is checked.
        let refusal = shared.access.refusal(request.headers(), false);
        async move {
            if let Some(refusal) = refusal {
                return refusal;
            }
            let path = request.uri().path().to_string();
            front_door::serve(&function, request, &path, kind, &host).await
        }
    }));
    Ok(addr)
}

impl Emulator {
    /// Starts serving `config` and returns once the Invoke API listens on 127.0.0.1.
    /// Runs its own async runtime on background threads; call it from synchronous code.
    pub fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        validate(&config)?;
        if let Some(dir) = &config.async_invokes.on_failure {
            std::fs::create_dir_all(dir).map_err(|source| EmulatorError::OnFailureFolder {
                path: dir.clone(),
                source,
            })?;
        }
        if !config.runtime_api_only {
            // Says at start, once, when instances cannot be contained.
            let _ = cgroup::system();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("lamina-emulator")
            .build()
            .map_err(EmulatorError::Runtime)?;
        let handle = runtime.handle().clone();
        let _entered = runtime.enter();

        let mut functions = Vec::new();
        for (index, mut function_config) in config.functions.into_iter().enumerate() {
            function_config.verbose = config.verbose;
            let function = Function::new(
                function_config,
                config.runtime_api_only,
                config.log_to_stderr,
                handle.clone(),
            );
            if config.runtime_api_only {
                let port = if index == 0 {
                    config.runtime_api_port
                } else {
                    0
                };
                function
                    .start_external(port)
                    .map_err(|source| EmulatorError::Bind {
                        addr: format!("127.0.0.1:{port}"),
                        source,
                    })?;
            }
            functions.push(function);
        }
        let shared = Arc::new(Shared {
            functions,
            strict_names: config.strict_names,
            http_event: config.http_event,
            asynchronous: asynchronous::AsyncQueue::new(config.async_invokes, handle.clone()),
            access: Access::new(&config.allowed_hosts, &config.allowed_origins),
        });

        let bind_error = |source| EmulatorError::Bind {
            addr: format!("127.0.0.1:{}", config.port),
            source,
        };
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", config.port)).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
        shared.access.listening_on(addr);
        let serving = Arc::clone(&shared);
        let limits = http::Limits {
            header_read_timeout: Some(config.connections.header_read_timeout),
            max_connections: config.connections.max_connections,
        };
        runtime.spawn(http::serve_with(listener, limits, move |request, _peer| {
            invoke_api::handle(Arc::clone(&serving), request)
        }));
        let http_addr = match (config.http_port, shared.functions.first()) {
            (Some(port), Some(function)) => Some(front_door_listener(
                port,
                Arc::clone(function),
                &shared,
                limits,
            )?),
            _ => None,
        };

        drop(_entered);
        Ok(Emulator {
            shared,
            handle,
            runtime: Mutex::new(Some(runtime)),
            addr,
            http_addr,
        })
    }

    /// Where the first function's own front door listens, with [`EmulatorConfig::http_port`].
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The Invoke API's address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL for AWS CLIs and SDKs (`--endpoint-url`).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/2015-03-31/functions/{function}/invocations`.
    pub fn invoke_url(&self, function: &str) -> String {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.endpoint_url()
        )
    }

    /// Everything `function` printed, with the START/END/REPORT lines, so far (the oldest
    /// text is dropped past 16 MiB). Empty for an unknown function.
    pub fn logs(&self, function: &str) -> String {
        self.shared
            .functions
            .iter()
            .find(|f| f.config.name == function)
            .map(|f| f.log_text())
            .unwrap_or_default()
    }

    /// In runtime-API-only mode, the value for `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:PORT`)
    /// that a runtime started by hand uses to serve `function`; otherwise `None`.
    pub fn runtime_api(&self, function: &str) -> Option<String> {
        self.shared
            .functions
            .iter()
            .find(|f| f.config.name == function)
            .and_then(|f| f.external_runtime_api())
            .map(|addr| addr.to_string())
    }

    /// Invokes `function` synchronously (`RequestResponse`) without going through HTTP.
    /// Blocks until it is answered; call it from synchronous code, not from async code.
    pub fn invoke(&self, function: &str, payload: &[u8]) -> Result<Invoked, EmulatorError> {
        self.invoke_tenant(function, None, payload)
    }

    /// Like [`Emulator::invoke`], for `tenant` (the Invoke API's `X-Amz-Tenant-Id`): required
    /// by a function with [`Tenancy::PerTenant`], whose runtime reads it as
    /// `Lambda-Runtime-Aws-Tenant-Id` and which runs it only on that tenant's instances; refused
    /// by any other ([`EmulatorError::Tenancy`]).
    pub fn invoke_tenant(
        &self,
        function: &str,
        tenant: Option<&str>,
        payload: &[u8],
    ) -> Result<Invoked, EmulatorError> {
        let (target, mut invocation, answer) = self.prepare(function, payload)?;
        invocation.tenant_id = check_tenant(&target, tenant)?;
        let request_id = invocation.request_id.clone();
        target.enqueue(invocation);
        let completion = self
            .handle
            .block_on(answer)
            .map_err(|_| EmulatorError::Stopped)?;
        Ok(Invoked {
            request_id,
            payload: completion.body.to_vec(),
            function_error: completion.function_error.then(|| "Unhandled".to_string()),
            log_tail: completion.log_tail,
        })
    }

    /// Like [`Emulator::invoke`], under a request id the caller chooses: a retry that reuses
    /// one, as Lambda's own asynchronous retries and upstream services do. Lambda tells two
    /// deliveries under one request id apart by `Lambda-Runtime-Invocation-Id`, so a late
    /// answer of the first is refused rather than taken as the second's.
    pub fn invoke_with_request_id(
        &self,
        function: &str,
        request_id: &str,
        payload: &[u8],
    ) -> Result<Invoked, EmulatorError> {
        let (target, mut invocation, answer) = self.prepare(function, payload)?;
        check_tenant(&target, None)?;
        invocation.request_id = request_id.to_string();
        target.enqueue(invocation);
        let completion = self
            .handle
            .block_on(answer)
            .map_err(|_| EmulatorError::Stopped)?;
        Ok(Invoked {
            request_id: request_id.to_string(),
            payload: completion.body.to_vec(),
            function_error: completion.function_error.then(|| "Unhandled".to_string()),
            log_tail: completion.log_tail,
        })
    }

    /// Invokes `function` as `InvokeWithResponseStream` does, without going through HTTP:
    /// each chunk the function streams goes to `on_chunk` as it arrives (a function that
    /// answers buffered gives one chunk of the whole). The returned payload holds only the
    /// error JSON when the function failed, before or after its first byte. Blocks like
    /// [`Emulator::invoke`].
    pub fn invoke_stream(
        &self,
        function: &str,
        payload: &[u8],
        on_chunk: &mut dyn FnMut(&[u8]),
    ) -> Result<Invoked, EmulatorError> {
        self.invoke_stream_tenant(function, None, payload, on_chunk)
    }

    /// [`Emulator::invoke_stream`] for `tenant`, checked as [`Emulator::invoke_tenant`] checks it.
    pub fn invoke_stream_tenant(
        &self,
        function: &str,
        tenant: Option<&str>,
        payload: &[u8],
        on_chunk: &mut dyn FnMut(&[u8]),
    ) -> Result<Invoked, EmulatorError> {
        let (target, mut invocation, answer) = self.prepare(function, payload)?;
        invocation.tenant_id = check_tenant(&target, tenant)?;
        let request_id = invocation.request_id.clone();
        let (parts_in, mut parts) = tokio::sync::mpsc::channel(stream_api::IN_FLIGHT);
        invocation.stream = Some(parts_in);
        target.enqueue(invocation);
        let completion = self.handle.block_on(async {
            // The channel closes when the invocation ends and its runtime stops posting.
            while let Some(part) = parts.recv().await {
                if let StreamPart::Chunk(chunk) = part {
                    on_chunk(&chunk);
                }
            }
            answer.await.map_err(|_| EmulatorError::Stopped)
        })?;
        if !completion.function_error && !completion.body.is_empty() {
            on_chunk(&completion.body);
        }
        Ok(Invoked {
            request_id,
            payload: if completion.function_error {
                completion.body.to_vec()
            } else {
                Vec::new()
            },
            function_error: completion.function_error.then(|| "Unhandled".to_string()),
            log_tail: completion.log_tail,
        })
    }

    /// The function named `function` and an invocation of it with `payload`, checked as the
    /// Invoke API checks them, with the receiver of its completion.
    fn prepare(
        &self,
        function: &str,
        payload: &[u8],
    ) -> Result<(Arc<Function>, Invocation, oneshot::Receiver<Completion>), EmulatorError> {
        let target = self
            .shared
            .functions
            .iter()
            .find(|f| f.config.name == function)
            .cloned()
            .ok_or_else(|| EmulatorError::UnknownFunction(function.to_string()))?;
        if payload.len() > MAX_REQUEST_BYTES {
            return Err(EmulatorError::PayloadTooLarge(payload.len()));
        }
        let payload = invoke_api::check_payload(Bytes::copy_from_slice(payload))
            .map_err(EmulatorError::InvalidPayload)?;
        let (tx, answer) = oneshot::channel();
        Ok((target, Invocation::new(payload, Some(tx)), answer))
    }

    /// Blocks until the process receives SIGINT (Ctrl-C) or SIGTERM.
    pub fn wait_for_shutdown_signal(&self) -> std::io::Result<()> {
        self.handle.block_on(async {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                result = tokio::signal::ctrl_c() => result,
                _ = terminate.recv() => Ok(()),
            }
        })
    }

    /// Kills every function process and stops serving. Idempotent; also done on drop.
    pub fn shutdown(&self) {
        for function in &self.shared.functions {
            function.stop();
        }
        cgroup::remove_system();
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(runtime) = runtime {
            if Handle::try_current().is_ok() {
                // Blocking inside an async context would panic; let the threads wind down.
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn validate(config: &EmulatorConfig) -> Result<(), EmulatorError> {
    if config.functions.is_empty() {
        return Err(EmulatorError::NoFunctions);
    }
    let retries = config.async_invokes.retries;
    if retries > facts::ASYNC_MAX_RETRIES {
        return Err(EmulatorError::InvalidSetting(format!(
            "asynchronous retries must be 0 to {}, not {retries}",
            facts::ASYNC_MAX_RETRIES
        )));
    }
    if config.connections.max_connections == 0 {
        return Err(EmulatorError::InvalidSetting(
            "the Invoke API's connection cap must be at least 1".to_string(),
        ));
    }
    if config.connections.header_read_timeout.is_zero() {
        return Err(EmulatorError::InvalidSetting(
            "the Invoke API's header read timeout must be above zero".to_string(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for function in &config.functions {
        let invalid = |reason: String| EmulatorError::InvalidFunction {
            name: function.name.clone(),
            reason,
        };
        if !names.insert(function.name.as_str()) {
            return Err(EmulatorError::DuplicateFunction(function.name.clone()));
        }
        let name_ok = !function.name.is_empty()
            && function.name.len() <= 64
            && function
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(
                "a function name is 1 to 64 letters, digits, `-` or `_`".to_string(),
            ));
        }
        if facts::check_timeout(function.timeout.as_secs_f64()).is_err() {
            return Err(invalid(format!(
                "timeout {:?} is outside Lambda's {} s to {} s",
                function.timeout,
                facts::TIMEOUT_S_RANGE.start(),
                facts::TIMEOUT_S_RANGE.end()
            )));
        }
        if function.init_timeout.is_zero() {
            return Err(invalid("init timeout must be above zero".to_string()));
        }
        if facts::check_memory_mb(u64::from(function.memory_mb)).is_err() {
            return Err(invalid(format!(
                "memory {} MB is outside Lambda's {} to {} MB",
                function.memory_mb,
                facts::MEMORY_MB_RANGE.start(),
                facts::MEMORY_MB_RANGE.end()
            )));
        }
        if let Some(LambdaMounts {
            view: View::Al2023 {
                ephemeral_storage_mb,
            },
            ..
        }) = &function.mounts
            && facts::check_ephemeral_storage_mb(u64::from(*ephemeral_storage_mb)).is_err()
        {
            return Err(invalid(format!(
                "ephemeral storage {ephemeral_storage_mb} MB is outside Lambda's {} to {} MB",
                facts::EPHEMERAL_STORAGE_MB_RANGE.start(),
                facts::EPHEMERAL_STORAGE_MB_RANGE.end()
            )));
        }
        if function.concurrency == 0 {
            return Err(invalid("concurrency must be at least 1".to_string()));
        }
        if let Err(refused) = facts::check_max_concurrency(
            u64::try_from(function.max_concurrency).unwrap_or(u64::MAX),
        ) {
            return Err(invalid(format!("max concurrency {refused}")));
        }
        if let Some(mounts) = &function.mounts {
            for (what, dir) in [
                (facts::TASK_ROOT, &mounts.task),
                (facts::OPT_DIR, &mounts.opt),
            ] {
                if !dir.is_dir() {
                    return Err(invalid(format!(
                        "the folder to show at {what}, {}, is not a folder",
                        dir.display()
                    )));
                }
            }
            continue;
        }
        if !config.runtime_api_only && !function.executable.is_file() {
            return Err(invalid(format!(
                "executable {} does not exist or is not a file",
                function.executable.display()
            )));
        }
        if !config.runtime_api_only && !function.task_root.is_dir() {
            return Err(invalid(format!(
                "task root {} is not a folder",
                function.task_root.display()
            )));
        }
    }
    Ok(())
}

/// The tenant of an invocation of `function` through the library, checked as the Invoke API
/// checks `X-Amz-Tenant-Id` against the function's [`Tenancy`].
fn check_tenant(
    function: &Function,
    tenant: Option<&str>,
) -> Result<Option<String>, EmulatorError> {
    let mut headers = hyper::HeaderMap::new();
    if let Some(tenant) = tenant {
        let value =
            hyper::header::HeaderValue::from_str(tenant).map_err(|_| EmulatorError::Tenancy {
                function: function.config.name.clone(),
                reason: format!("the tenant id {tenant:?} cannot be sent in a header"),
            })?;
        headers.insert(tenancy::TENANT_ID_HEADER, value);
    }
    tenancy::tenant_id(&headers, function.config.tenancy).map_err(|refusal| {
        let reason = match (function.config.tenancy, tenant) {
            (Tenancy::PerTenant, None) => format!(
                "it has tenant isolation (PER_TENANT): every invocation names its tenant ({})",
                refusal.message()
            ),
            (_, Some(_)) if function.config.tenancy != Tenancy::PerTenant => format!(
                "it has no tenant isolation, so an invocation names no tenant ({})",
                refusal.message()
            ),
            _ => refusal.message().to_string(),
        };
        EmulatorError::Tenancy {
            function: function.config.name.clone(),
            reason,
        }
    })
}
