//! Starting an instance: its Runtime API listener, its process (in its cgroup, process group
//! and Lambda's layout), its output reader and the environment Lambda gives it.

use std::io::{PipeReader, Read as _};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lamina_context::{env, facts};
use tokio::sync::Notify;

use super::{Function, FunctionState, Instance, REGION, bind_loopback};
use crate::instance::Lifecycle;
use crate::instance_io::{InstanceIo, lock, read_output};
use crate::{cgroup, logs, view};

impl Function {
    /// Starts one process with its own Runtime API endpoint; on failure, the error type and
    /// message the waiting caller gets.
    pub(super) fn spawn_instance(
        self: &Arc<Self>,
        state: &mut FunctionState,
    ) -> Result<(), (String, String)> {
        // Listeners and child processes register with the runtime's reactor, whichever
        // thread (async or not) queued the invocation.
        let _entered = self.handle.enter();
        // The emulator's own set-up (listener, cgroup, namespaces, the view's mounts) runs
        // from here until the bootstrap is executed; Lambda does not count it in Init Duration.
        let setup_started = Instant::now();
        let unknown = |what: &str, err: std::io::Error| {
            (
                facts::error_type::UNKNOWN.to_string(),
                format!("{what}: {err}"),
            )
        };
        let (listener, addr) =
            bind_loopback(0).map_err(|e| unknown("binding the Runtime API listener", e))?;
        let (reader, writer) = std::io::pipe().map_err(|e| unknown("creating a pipe", e))?;
        let our_writer = writer
            .try_clone()
            .map_err(|e| unknown("duplicating a pipe", e))?;
        let stderr = writer
            .try_clone()
            .map_err(|e| unknown("duplicating a pipe", e))?;

        // In a view, `unshare` and a shell build the mounts and then exec the bootstrap; the
        // shell's stdin is the write end of this pipe and the exec replaces it (`</dev/null`),
        // so its reader sees EOF the moment the bootstrap is executed. Run directly, the
        // bootstrap is exec'd before `spawn` returns (std waits for the exec to succeed).
        let exec_pipe = match &self.config.mounts {
            None => None,
            Some(_) => Some(std::io::pipe().map_err(|e| unknown("creating a pipe", e))?),
        };
        let mut command = match &self.config.mounts {
            None => {
                let mut command = tokio::process::Command::new(&self.config.executable);
                command
                    .args(&self.config.args)
                    .current_dir(&self.config.task_root);
                command
            }
            Some(mounts) => view::namespaced_command(mounts, &self.config)?,
        };
        let (exec_reader, stdin) = match exec_pipe {
            Some((reader, writer)) => (Some(reader), Stdio::from(writer)),
            None => (None, Stdio::null()),
        };
        command
            .env_clear()
            .envs(self.environment(addr))
            .stdin(stdin)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(stderr))
            // Its own process group, so a timeout kills everything the function started.
            .process_group(0)
            .kill_on_drop(true);
        let cgroup = cgroup::system().and_then(|cgroups| {
            cgroups
                .instance(&self.config.name, u64::from(self.config.memory_mb))
                .map_err(|err| to_stderr!("lamina-emulator: no cgroup for an instance: {err}"))
                .ok()
        });
        let joiner = match &cgroup {
            Some(cgroup) => Some(cgroup.joiner().map_err(|e| {
                cgroup.remove();
                unknown("opening the instance's cgroup", std::io::Error::other(e))
            })?),
            None => None,
        };
        if let Some(joiner) = &joiner {
            let fds = joiner.fds();
            // SAFETY: the closure only calls write(2) on descriptors the parent keeps open
            // (`joiner` lives until spawn returns): async-signal-safe, no allocation.
            unsafe {
                command.pre_exec(move || cgroup::Joiner::join(&fds));
            }
        }
        let spawned = command.spawn();
        let spawned_at = Instant::now();
        drop(joiner);
        let mut child = spawned.map_err(|err| {
            if let Some(cgroup) = &cgroup {
                cgroup.remove();
            }
            (
                facts::error_type::INVALID_ENTRYPOINT.to_string(),
                format!(
                    "fork/exec {}: {}",
                    self.config.executable.display(),
                    os_error_text(&err)
                ),
            )
        })?;
        // The command still holds the child's copies of the pipe; the reader sees EOF only
        // once every write end is closed.
        drop(command);
        let pgid = child.id();
        let id = self.next_instance_id.fetch_add(1, Ordering::Relaxed);
        let io = Arc::new(InstanceIo::new(Some(our_writer), pgid, cgroup));
        self.remember_started(&io);

        let reader_function = Arc::clone(self);
        let reader_io = Arc::clone(&io);
        let reader_thread = std::thread::Builder::new()
            .name(format!("{}-log-{id}", self.config.name))
            .spawn(move || read_output(reader, &|line| reader_function.log_line(line), &reader_io));
        if let Err(err) = reader_thread {
            io.kill_all();
            return Err(unknown("starting the log reader", err));
        }

        let server = self.serve_runtime_api(listener, id);
        let supervisor = Arc::clone(self);
        let exit_io = Arc::clone(&io);
        self.handle.spawn(async move {
            let status = child.wait().await;
            supervisor.on_exit(id, status.ok());
            if exit_io.cgroup.is_some() {
                // Removing waits for the killed processes to be gone.
                let _ = tokio::task::spawn_blocking(move || {
                    if let Some(cgroup) = &exit_io.cgroup {
                        cgroup.remove();
                    }
                })
                .await;
            }
        });
        match exec_reader {
            Some(exec_reader) => self.watch_exec(id, exec_reader, setup_started),
            None => self.log_setup(id, spawned_at.duration_since(setup_started)),
        }
        let init_watch = Arc::clone(self);
        let init_limit = self.config.init_timeout;
        self.handle.spawn(async move {
            tokio::time::sleep(init_limit).await;
            init_watch.on_init_timeout(id);
        });
        state.instances.insert(
            id,
            Instance {
                life: Lifecycle::new(self.config.max_concurrency, true),
                wake: Arc::new(Notify::new()),
                io,
                // Until the exec is seen (in a view), the moment `spawn` returned.
                spawned_at,
                pending_init_error: None,
                server,
                runtime_api: addr,
            },
        );
        Ok(())
    }

    /// Waits (on a thread of its own) for the bootstrap of instance `id` to be executed:
    /// EOF on `exec_reader`, whose last write end the view's shell drops as it execs. From
    /// then on the instance's Init Duration is counted, as Lambda counts it: from the
    /// bootstrap's start to its first `/next`.
    fn watch_exec(self: &Arc<Self>, id: u64, mut exec_reader: PipeReader, setup_started: Instant) {
        let function = Arc::clone(self);
        let watch = move || {
            let mut sink = [0u8; 64];
            // Nothing is written: a read returns only at EOF (or on an error, such as the
            // shell killed before it got to the exec).
            while matches!(exec_reader.read(&mut sink), Ok(n) if n > 0) {}
            let executed_at = Instant::now();
            {
                let mut state = lock(&function.state);
                // A first `/next` handled before this thread woke (a loaded machine) has
                // already counted from `spawn`'s return: more than Lambda would, never less.
                if let Some(instance) = state.instances.get_mut(&id)
                    && instance.life.is_init()
                {
                    instance.spawned_at = executed_at;
                }
            }
            function.log_setup(id, executed_at.duration_since(setup_started));
        };
        let started = std::thread::Builder::new()
            .name(format!("{}-exec-{id}", self.config.name))
            .spawn(watch);
        if let Err(err) = started {
            // Init Duration then counts from `spawn`'s return, set-up included.
            to_stderr!("lamina-emulator: cannot time the bootstrap's start: {err}");
        }
    }

    /// With `verbose`, the emulator's own set-up of instance `id` before its bootstrap ran,
    /// in the function's log: time Lambda does not count, so neither does Init Duration.
    fn log_setup(&self, id: u64, setup: Duration) {
        if self.config.verbose {
            self.log_line(&logs::setup_line(id, setup, self.config.mounts.is_some()));
        }
    }

    /// Lambda's environment for provided.al2023, pointing at this instance's Runtime API.
    pub(super) fn environment(&self, runtime_api: SocketAddr) -> Vec<(String, String)> {
        let config = &self.config;
        let task_root = config.task_root.to_string_lossy().into_owned();
        let mut path = facts::PATH.to_string();
        // The host's PATH comes after Lambda's so local tools (curl, interpreters) are found;
        // the AL2023 view shows Lambda's alone.
        if let Some(host_path) = std::env::var_os("PATH").filter(|_| !view::is_al2023(config)) {
            let host_path = host_path.to_string_lossy();
            if !host_path.is_empty() {
                path.push(':');
                path.push_str(&host_path);
            }
        }
        let mut vars: Vec<(String, String)> = vec![
            (env::RUNTIME_API.into(), runtime_api.to_string()),
            (env::HANDLER.into(), config.handler.clone()),
            (env::TASK_ROOT.into(), task_root.clone()),
            ("LAMBDA_RUNTIME_DIR".into(), "/var/runtime".into()),
            (env::FUNCTION_NAME.into(), config.name.clone()),
            (env::FUNCTION_VERSION.into(), "$LATEST".into()),
            (
                env::FUNCTION_MEMORY_SIZE.into(),
                config.memory_mb.to_string(),
            ),
            (
                env::LOG_GROUP_NAME.into(),
                format!("/aws/lambda/{}", config.name),
            ),
            (env::LOG_STREAM_NAME.into(), self.log_stream_name.clone()),
            (env::REGION.into(), REGION.into()),
            (env::DEFAULT_REGION.into(), REGION.into()),
            (env::INITIALIZATION_TYPE.into(), "on-demand".into()),
            (env::LOG_FORMAT.into(), "Text".into()),
            ("TZ".into(), ":UTC".into()),
            ("LANG".into(), "en_US.UTF-8".into()),
            ("PATH".into(), path),
            ("LD_LIBRARY_PATH".into(), facts::ld_library_path(&task_root)),
            // Fake credentials, as AWS documents them for examples: SDKs find some, and
            // nothing real can be reached with them.
            ("AWS_ACCESS_KEY_ID".into(), "AKIAIOSFODNN7EXAMPLE".into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            ),
            (
                "AWS_SESSION_TOKEN".into(),
                "lamina-emulator-session-token".into(),
            ),
            ("AWS_XRAY_CONTEXT_MISSING".into(), "LOG_ERROR".into()),
            (
                "AWS_XRAY_DAEMON_ADDRESS".into(),
                "169.254.79.129:2000".into(),
            ),
        ];
        if config.max_concurrency > 1 {
            vars.push((
                env::MAX_CONCURRENCY.into(),
                config.max_concurrency.to_string(),
            ));
        }
        vars.extend(config.env.iter().cloned());
        vars
    }
}

/// An OS error worded like Go's (which AWS's messages come from): `permission denied`.
pub(super) fn os_error_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
