//! One function: its queue of invocations, its instances (processes), and the life of each
//! invocation from the Invoke API to the caller's answer. This is the driver: each instance's
//! phases and transitions are the pure state machine of [`crate::instance`]; this module asks it
//! what happened and does the effects (starting processes, timers, START/END/REPORT lines,
//! freezing, killing, answering callers). It is the [`runtime_api::Backend`] of its instances'
//! Runtime APIs: what it says to a runtime is a [`RuntimeAnswer`], which [`crate::runtime_api`]
//! turns into HTTP.
//!
//! Its parts (`answers.rs`, `ending.rs`, `spawn.rs`) import from here, never the other way.
//!
//! All bookkeeping sits behind one mutex per function ([`FunctionState`]); every change of
//! phase happens under it, so an invocation is handed to exactly one instance and answered
//! exactly once. Log text is kept behind separate locks, never taken while holding the
//! state lock for long.

mod answers;
mod ending;
mod spawn;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use lamina_context::facts;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::config::FunctionConfig;
use crate::ids;
use crate::instance::{Identified, Lifecycle, Next};
use crate::instance_io::{InstanceIo, lock};
use crate::invocation::Invocation;
use crate::logs::{self, FunctionLog};
use crate::runtime_api::{self, Delivery, RuntimeAnswer};

/// Region and account of every ARN the emulator makes up.
const REGION: &str = facts::DEFAULT_REGION;
const ACCOUNT: &str = facts::LOCAL_ACCOUNT_ID;

/// An invocation handed to an instance, with what the driver keeps beside it: the timer of
/// its timeout, once it runs (the lifecycle, [`crate::instance`], holds no async types).
pub(crate) struct Job {
    pub(crate) invocation: Invocation,
    pub(crate) timer: Option<AbortHandle>,
}

impl Identified for Job {
    fn request_id(&self) -> &str {
        &self.invocation.request_id
    }

    fn tenant(&self) -> Option<&str> {
        self.invocation.tenant_id.as_deref()
    }
}

impl Job {
    fn new(invocation: Invocation) -> Self {
        Job {
            invocation,
            timer: None,
        }
    }
}

/// How an invocation that reached an instance ended.
enum Ending {
    Response(Bytes),
    FunctionError {
        body: Bytes,
        error_type: String,
    },
    /// Over the limit of `limit` bytes: the buffered one, or the streamed one.
    ResponseTooLarge {
        limit: u64,
    },
    Timeout,
    /// Lambda itself failed the invocation (not the handler): `message` says why, already
    /// prefixed with `RequestId: ... Error:`.
    SandboxError {
        message: String,
        error_type: &'static str,
    },
    Crash {
        exit: Exit,
        error_type: &'static str,
    },
}

/// How a runtime process ended: its exit code, or the signal that ended it (both `None`
/// when waiting on it failed), as [`facts::exit_wording`] words it.
#[derive(Debug, Clone, Copy)]
struct Exit {
    code: Option<i32>,
    signal: Option<i32>,
}

/// A process the emulator killed (a timeout, memory): `signal: killed`.
const KILLED: Exit = Exit {
    code: None,
    signal: Some(libc::SIGKILL),
};

/// A function and everything running for it.
pub struct Function {
    pub config: FunctionConfig,
    /// `arn:aws:lambda:us-east-1:123456789012:function:NAME`
    pub arn: String,
    /// Runtime-API-only mode: one endpoint, no process started by us.
    external: bool,
    log_to_stderr: bool,
    log: Mutex<FunctionLog>,
    state: Mutex<FunctionState>,
    next_instance_id: AtomicU64,
    log_stream_name: String,
    handle: Handle,
    stopped: AtomicBool,
    /// Every instance started and not yet dropped, also those already out of `instances`
    /// (timed out, exited) whose cgroup may still be being removed: [`Function::stop`] waits
    /// for those removals, so the emulator never exits with a cgroup left behind.
    started: Mutex<Vec<std::sync::Weak<InstanceIo>>>,
}

#[derive(Default)]
struct FunctionState {
    queue: VecDeque<Invocation>,
    instances: BTreeMap<u64, Instance>,
}

/// One execution environment: a process (or, in runtime-API-only mode, whoever talks to the
/// endpoint) with its own Runtime API listener.
struct Instance {
    /// Its phase and what it remembers: the pure part ([`crate::instance`]).
    life: Lifecycle<Job>,
    /// Wakes the instance's pending `/next` when an invocation is assigned.
    wake: Arc<Notify>,
    io: Arc<InstanceIo>,
    spawned_at: Instant,
    /// Runtime-API-only mode: an init error posted before any invocation waited; the next
    /// invocation is answered with it, as the invocation that would have followed the init.
    pending_init_error: Option<(Bytes, String)>,
    server: AbortHandle,
    runtime_api: SocketAddr,
}

impl Instance {
    /// Stops the instance's Runtime API: no new connections, and a `/next` still waiting
    /// wakes up to find the instance gone and answers 500, ending its connection.
    fn retire(&self) {
        self.server.abort();
        self.wake.notify_waiters();
    }
}

impl Function {
    /// A function with no instance yet.
    pub fn new(
        config: FunctionConfig,
        external: bool,
        log_to_stderr: bool,
        handle: Handle,
    ) -> Arc<Self> {
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", config.name);
        Arc::new(Function {
            config,
            arn,
            external,
            log_to_stderr,
            log: Mutex::new(FunctionLog::default()),
            state: Mutex::new(FunctionState::default()),
            next_instance_id: AtomicU64::new(1),
            log_stream_name: ids::log_stream_name(SystemTime::now()),
            handle,
            stopped: AtomicBool::new(false),
            started: Mutex::new(Vec::new()),
        })
    }

    /// Everything logged so far.
    pub fn log_text(&self) -> String {
        lock(&self.log).text().to_string()
    }

    pub(crate) fn log_line(&self, line: &str) {
        lock(&self.log).push_line(line);
        if self.log_to_stderr {
            // A closed stderr must not stop the log, nor the invocation whose lines these are.
            to_stderr!("{line}");
        }
    }

    /// Queues `invocation`; it is answered through its responder (if any).
    pub fn enqueue(self: &Arc<Self>, invocation: Invocation) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let mut state = lock(&self.state);
        state.queue.push_back(invocation);
        self.dispatch(&mut state);
    }

    /// Hands queued invocations to idle instances and starts instances, up to the
    /// concurrency, while more invocations wait than instances could take.
    fn dispatch(self: &Arc<Self>, state: &mut FunctionState) {
        let FunctionState { queue, instances } = state;
        for instance in instances.values_mut() {
            if queue.is_empty() {
                break;
            }
            if let Some((body, error_type)) = instance.pending_init_error.take()
                && let Some(invocation) = take_queued(queue, instance.life.tenant())
            {
                let function = Arc::clone(self);
                let io = Arc::clone(&instance.io);
                self.handle.spawn(async move {
                    function
                        .fail_init(
                            &io,
                            Some(invocation),
                            Duration::ZERO,
                            &error_type,
                            body,
                            Vec::new(),
                        )
                        .await;
                });
            }
        }
        for instance in instances.values_mut() {
            if queue.is_empty() {
                break;
            }
            // The first queued invocation this instance may run: the front of the queue, but
            // on a function with tenant isolation the first of the instance's own tenant.
            while instance.life.can_take()
                && let Some(at) = queue
                    .iter()
                    .position(|queued| instance.life.serves(queued.tenant_id.as_deref()))
                && let Some(invocation) = queue.remove(at)
            {
                match instance.life.offer(Job::new(invocation)) {
                    None => instance.wake.notify_one(),
                    Some(refused) => {
                        queue.insert(at, refused.invocation);
                        break;
                    }
                }
            }
        }
        if self.external || self.stopped.load(Ordering::Acquire) {
            return;
        }
        while let Some(tenant) = wanting_instance(state) {
            if state.instances.len() >= self.config.concurrency {
                // At the concurrency, a tenant with no instance gets one in place of an idle
                // instance of another tenant (which is ended, never handed over).
                if tenant.is_some() && self.end_idle_instance_of_other(state, tenant.as_deref()) {
                    continue;
                }
                break;
            }
            // Ids only grow and a spawn inserts one instance: the new one is at or above this.
            let first_new = self.next_instance_id.load(Ordering::Relaxed);
            match self.spawn_instance(state) {
                Ok(()) => {
                    if let Some((_, instance)) = state.instances.range_mut(first_new..).next() {
                        instance.life.bind(tenant.as_deref());
                    }
                }
                Err((error_type, reason)) => {
                    if let Some(at) = state
                        .queue
                        .iter()
                        .position(|queued| queued.tenant_id == tenant)
                        && let Some(invocation) = state.queue.remove(at)
                    {
                        self.fail_without_instance(invocation, &error_type, &reason);
                    }
                }
            }
        }
    }

    /// Ends an idle instance that does not serve `tenant`, to make room for one that does;
    /// false when there is none. Nothing runs in it, so nobody is failed: its processes are
    /// killed and its Runtime API stops, as Lambda spins an environment down.
    fn end_idle_instance_of_other(
        self: &Arc<Self>,
        state: &mut FunctionState,
        tenant: Option<&str>,
    ) -> bool {
        let Some(id) = state
            .instances
            .iter()
            .find(|(_, instance)| instance.life.is_idle() && !instance.life.serves(tenant))
            .map(|(id, _)| *id)
        else {
            return false;
        };
        let Some(instance) = state.instances.remove(&id) else {
            return false;
        };
        instance.retire();
        instance.io.kill_all();
        let io = Arc::clone(&instance.io);
        self.handle.spawn(async move {
            // Its last lines are read before the log's writer end is closed.
            io.flush().await;
            io.close_writer();
        });
        true
    }

    /// Creates the one endpoint of runtime-API-only mode and returns its address.
    pub fn start_external(self: &Arc<Self>, port: u16) -> std::io::Result<SocketAddr> {
        let (listener, addr) = bind_loopback(port)?;
        let id = self.next_instance_id.fetch_add(1, Ordering::Relaxed);
        let server = self.serve_runtime_api(listener, id);
        lock(&self.state).instances.insert(
            id,
            Instance {
                // A runtime started by hand: no Init Duration is measured.
                life: Lifecycle::new(self.config.max_concurrency, false),
                wake: Arc::new(Notify::new()),
                io: Arc::new(InstanceIo::new(None, None, None)),
                spawned_at: Instant::now(),
                pending_init_error: None,
                server,
                runtime_api: addr,
            },
        );
        Ok(addr)
    }

    /// The Runtime API address of the runtime-API-only endpoint.
    pub fn external_runtime_api(&self) -> Option<SocketAddr> {
        if !self.external {
            return None;
        }
        lock(&self.state)
            .instances
            .values()
            .next()
            .map(|i| i.runtime_api)
    }

    fn serve_runtime_api(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
        instance_id: u64,
    ) -> AbortHandle {
        self.handle
            .spawn(runtime_api::serve(Arc::clone(self), listener, instance_id))
            .abort_handle()
    }

    /// `GET /runtime/invocation/next` from instance `instance_id`: waits for an invocation.
    async fn wait_for_invocation(self: &Arc<Self>, instance_id: u64) -> RuntimeAnswer {
        loop {
            let wake = {
                let mut state = lock(&self.state);
                let Some(instance) = state.instances.get_mut(&instance_id) else {
                    return RuntimeAnswer::ContainerError;
                };
                let init_took = instance.spawned_at.elapsed();
                // A fresh nonce per delivery, in the shape of a request id (AWS's are opaque).
                match instance
                    .life
                    .next(Instant::now(), init_took, ids::request_id)
                {
                    Next::Initialized => {
                        self.dispatch(&mut state);
                        continue;
                    }
                    Next::Deliver {
                        request_id,
                        invocation_id,
                    } => {
                        let Some(running) = instance.life.running_mut(&request_id) else {
                            return RuntimeAnswer::ContainerError;
                        };
                        let start = logs::start_line(&request_id);
                        instance.io.begin(&start);
                        self.log_line(&start);
                        let timer = Arc::clone(self);
                        let timeout = self.config.timeout;
                        running.invocation.timer = Some(
                            self.handle
                                .spawn(async move {
                                    tokio::time::sleep(timeout).await;
                                    timer.on_timeout(instance_id, &request_id);
                                })
                                .abort_handle(),
                        );
                        instance.io.thaw();
                        return self.delivery(&running.invocation.invocation, invocation_id);
                    }
                    Next::Wait { freeze } => {
                        // Nothing runs and nothing is queued (a queued invocation would have
                        // been offered): freeze it, as Lambda does. Only the function's
                        // processes stop; this server does not.
                        if freeze {
                            instance.io.freeze();
                        }
                        Arc::clone(&instance.wake)
                    }
                }
            };
            wake.notified().await;
        }
    }

    fn delivery(&self, invocation: &Invocation, invocation_id: String) -> RuntimeAnswer {
        RuntimeAnswer::Event(Box::new(Delivery {
            payload: invocation.payload.clone(),
            request_id: invocation.request_id.clone(),
            invocation_id,
            deadline_ms: ids::epoch_millis(SystemTime::now() + self.config.timeout),
            function_arn: self.arn.clone(),
            trace_id: invocation.trace_id.clone(),
            client_context: invocation.client_context.clone(),
            cognito_identity: invocation.cognito_identity.clone(),
            tenant_id: invocation.tenant_id.clone(),
        }))
    }

    /// Kills every process and drops every queued invocation; nothing starts afterwards.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        let mut state = lock(&self.state);
        state.queue.clear();
        for (_, instance) in std::mem::take(&mut state.instances) {
            instance.retire();
            instance.io.kill_all();
            if let Some(cgroup) = &instance.io.cgroup {
                // At shutdown the exit watcher may never run to remove it.
                cgroup.remove();
            }
            instance.io.close_writer();
        }
        drop(state);
        let started = std::mem::take(&mut *lock(&self.started));
        for io in started.iter().filter_map(std::sync::Weak::upgrade) {
            if let Some(cgroup) = &io.cgroup {
                // Returns once a removal under way (a timed-out instance's) is done.
                cgroup.remove();
            }
        }
    }

    /// Remembers an instance's I/O until it is dropped, for [`Function::stop`].
    pub(super) fn remember_started(&self, io: &Arc<InstanceIo>) {
        let mut started = lock(&self.started);
        started.retain(|weak| weak.strong_count() > 0);
        started.push(Arc::downgrade(io));
    }
}

/// Takes the first queued invocation an instance serving `tenant` may run (`None`: an
/// unbound instance, which takes the front of the queue): the one whose caller gets that
/// instance's init failure, never another tenant's.
pub(super) fn take_queued(
    queue: &mut VecDeque<Invocation>,
    tenant: Option<&str>,
) -> Option<Invocation> {
    let at = match tenant {
        None => 0,
        Some(tenant) => queue
            .iter()
            .position(|queued| queued.tenant_id.as_deref() == Some(tenant))?,
    };
    queue.remove(at)
}

/// The tenant (`None`: invocations naming none) of the first queued invocation, in queue
/// order, whose tenant has more invocations queued than instances that will take them: the
/// one a new instance is for. On a function without tenant isolation that is `Some(None)`
/// exactly when more wait than the instances will take, as before tenants.
fn wanting_instance(state: &FunctionState) -> Option<Option<String>> {
    let mut queued: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for invocation in &state.queue {
        *queued.entry(invocation.tenant_id.as_deref()).or_default() += 1;
    }
    let wanting = |tenant: Option<&str>| {
        let free = state
            .instances
            .values()
            .filter(|i| i.life.will_be_free() && i.life.serves(tenant))
            .count();
        queued.get(&tenant).is_some_and(|&count| count > free)
    };
    // Each tenant is looked at once: the queue may be long, the tenants in it few.
    let mut seen = std::collections::BTreeSet::new();
    state
        .queue
        .iter()
        .map(|invocation| invocation.tenant_id.as_deref())
        .filter(|&tenant| seen.insert(tenant))
        .find(|&tenant| wanting(tenant))
        .map(|tenant| tenant.map(str::to_string))
}

/// A listener on 127.0.0.1 (`port` 0: any free one), for an instance's Runtime API.
fn bind_loopback(port: u16) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    Ok((tokio::net::TcpListener::from_std(listener)?, addr))
}
