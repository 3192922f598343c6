//! Shared set-up for the bootstrap's integration tests: a task root, an opt dir, the real
//! adapters of this crate, and contexts with safety-bound deadlines.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lamina_bootstrap::{ChildEnvironment, Context, Handler, InitError, Log, Settings};

/// A function's folders: task root and `/opt`, both temporary.
pub struct Function {
    pub task_root: tempfile::TempDir,
    pub opt: tempfile::TempDir,
    pub log: Log,
    pub log_buffer: Arc<Mutex<Vec<u8>>>,
    /// `PATH` for handlers before `<opt>/bin` is put first; the test's own by default.
    pub path: OsString,
}

impl Function {
    pub fn new() -> Self {
        let (log, log_buffer) = Log::memory();
        Self {
            task_root: tempfile::tempdir().unwrap(),
            opt: tempfile::tempdir().unwrap(),
            log,
            log_buffer,
            path: std::env::var_os("PATH").unwrap_or_default(),
        }
    }

    /// Writes a file into the task root with the given mode.
    pub fn file(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        write_file(&self.task_root.path().join(name), contents, mode)
    }

    /// Writes an executable file into the task root.
    pub fn executable(&self, name: &str, contents: &str) -> PathBuf {
        self.file(name, contents, 0o755)
    }

    pub fn settings(&self) -> Settings {
        Settings {
            task_root: self.task_root.path().to_path_buf(),
            opt_dir: self.opt.path().to_path_buf(),
            adapters_dir: adapters_dir(),
            timeout_margin: Duration::from_millis(100),
        }
    }

    pub fn environment(&self) -> ChildEnvironment {
        let base = std::env::vars_os()
            .filter(|(name, _)| name != "PATH" && name != "_X_AMZN_TRACE_ID")
            .chain([(OsString::from("PATH"), self.path.clone())]);
        ChildEnvironment::build(base, self.opt.path()).unwrap()
    }

    /// Resolves and starts `_HANDLER=handler`.
    pub fn load(&self, handler: &str) -> Result<Box<dyn Handler>, InitError> {
        lamina_bootstrap::load_handler(
            Some(handler),
            &self.settings(),
            Arc::new(self.environment()),
            &self.log,
        )
    }

    /// Everything logged so far, lossily decoded.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.log_buffer.lock().unwrap()).into_owned()
    }

    /// Replaces the temporary folders in `text` by `/var/task` and `/opt`, for snapshots.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&*self.task_root.path().to_string_lossy(), "/var/task")
            .replace(&*self.opt.path().to_string_lossy(), "/opt")
            .replace(&*adapters_dir().to_string_lossy(), "/opt/lamina/adapters")
    }
}

pub fn write_file(path: &Path, contents: &str, mode: u32) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_path_buf()
}

/// Waits until a process under test has created `path` (an event it signals, not a time it
/// takes); fails past [`SAFETY`].
pub fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + SAFETY;
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} was never created",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// This crate's adapters, as the layer ships them under `/opt/lamina/adapters`.
pub fn adapters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters")
}

/// A context whose deadline is `timeout` from now.
pub fn context(request_id: &str, timeout: Duration) -> Context {
    let mut context = Context::new(request_id, SystemTime::now() + timeout);
    context.invoked_function_arn =
        Some("arn:aws:lambda:us-east-1:123456789012:function:test".into());
    context.trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into());
    context
}

/// A deadline far enough away that only a hung handler reaches it: a safety bound.
pub const SAFETY: Duration = Duration::from_secs(30);

/// Invokes with a safety-bound deadline.
pub fn invoke(
    handler: &mut dyn Handler,
    event: &[u8],
) -> Result<Vec<u8>, lamina_bootstrap::InvocationError> {
    handler.invoke(event, &context("req-ok", SAFETY))
}

/// A 5 MB event holding every byte value many times, in an order that is not periodic in 256.
pub fn binary_event() -> Vec<u8> {
    (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ (i as u8))
        .collect()
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
pub fn process_is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits (bounded) until `path` exists and holds a pid; returns it.
pub fn read_pid(path: &Path) -> u32 {
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no pid in {}", path.display());
}

/// Whether `pid` is gone within a safety bound (a SIGKILL takes a moment to land).
pub fn becomes_gone(pid: u32) -> bool {
    for _ in 0..500 {
        if process_is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// `LAMINA_TIMEOUT_MARGIN_MS` for tests where the bootstrap must answer a timeout before the
/// emulator's own: the production 100 ms is too tight on a 2-core machine busy compiling, and
/// what is asserted (the bootstrap answers first) does not depend on the size of the margin.
pub const ROOMY_MARGIN: (&str, &str) = ("LAMINA_TIMEOUT_MARGIN_MS", "1000");

/// An HTTP answer from the Invoke API.
pub struct Answer {
    pub status: u16,
    pub request_id: String,
    pub function_error: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body of a successful invocation, as JSON.
    pub fn ok(&self) -> serde_json::Value {
        assert_eq!(self.function_error, None, "{}", self.json());
        self.json()
    }

    /// The error body of a failed invocation.
    pub fn error(&self) -> serde_json::Value {
        assert_eq!(
            self.function_error.as_deref(),
            Some("Unhandled"),
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }
}

/// One invocation of `name` through the emulator's Invoke API over HTTP.
pub fn invoke_http(emulator: &lamina_emulator::Emulator, name: &str, payload: &[u8]) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(SAFETY))
        .build()
        .into();
    let mut response = agent
        .post(&emulator.invoke_url(name))
        .send(payload)
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let function_error = header("X-Amz-Function-Error");
    let request_id = header("X-Amzn-RequestId").unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        request_id,
        function_error,
        body: response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .unwrap(),
    }
}

/// `bytes` as JSON, or a failure that shows them.
pub fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Asks a test handler `{"action":"whoami"}`: its pid, request id and what it saw.
pub fn whoami(handler: &mut dyn Handler, request_id: &str) -> serde_json::Value {
    json_of(
        &handler
            .invoke(br#"{"action":"whoami"}"#, &context(request_id, SAFETY))
            .unwrap(),
    )
}
