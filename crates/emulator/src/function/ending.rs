//! How invocations and instances end: timeouts, exits, init failures, and the END/REPORT
//! lines and answers that follow.

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lamina_context::facts;

use super::{Ending, Exit, Function, Job, KILLED, take_queued};
use crate::instance::{Outcome, Running};
use crate::instance_io::{InstanceIo, lock};
use crate::invocation::{Completion, Invocation};
use crate::logs::{self, Report};

impl Function {
    pub(super) fn on_timeout(self: &Arc<Self>, instance_id: u64, request_id: &str) {
        let mut state = lock(&self.state);
        let Some(instance) = state.instances.get_mut(&instance_id) else {
            return;
        };
        let Some(running) = instance.life.finish_running(request_id, Outcome::TimedOut) else {
            return;
        };
        let io = Arc::clone(&instance.io);
        let alive = self.external;
        let mut others = Vec::new();
        if !self.external
            && let Some(mut instance) = state.instances.remove(&instance_id)
        {
            instance.retire();
            instance.io.kill_all();
            // Killing the instance ends whatever else its other slots were running; what
            // the runtime had not seen yet goes to another instance instead.
            let (delivered, undelivered): (Vec<Running<Job>>, Vec<Running<Job>>) = instance
                .life
                .end()
                .running
                .into_iter()
                .partition(|other| other.delivered_at.is_some());
            for other in undelivered.into_iter().rev() {
                state.queue.push_front(other.invocation.invocation);
            }
            others = delivered;
            self.dispatch(&mut state);
        }
        drop(state);
        self.handle.spawn(Arc::clone(self).finish(
            instance_id,
            Arc::clone(&io),
            running,
            Ending::Timeout,
            alive,
        ));
        for other in others {
            self.handle.spawn(Arc::clone(self).finish(
                instance_id,
                Arc::clone(&io),
                other,
                Ending::Crash {
                    exit: KILLED,
                    error_type: facts::error_type::EXIT,
                },
                false,
            ));
        }
    }

    pub(super) fn on_init_timeout(self: &Arc<Self>, instance_id: u64) {
        let mut state = lock(&self.state);
        let still_initialising = state
            .instances
            .get(&instance_id)
            .is_some_and(|i| i.life.is_init());
        if !still_initialising {
            return;
        }
        let Some(instance) = state.instances.remove(&instance_id) else {
            return;
        };
        instance.retire();
        instance.io.kill_all();
        let invocation = take_queued(&mut state.queue, instance.life.tenant());
        self.dispatch(&mut state);
        drop(state);
        let init_duration = instance.spawned_at.elapsed();
        let io = instance.io;
        let function = Arc::clone(self);
        self.handle.spawn(async move {
            let message = |id: &str| {
                format!(
                    "RequestId: {id} Error: Task timed out after {} seconds",
                    logs::seconds(init_duration)
                )
            };
            let request_id = invocation
                .as_ref()
                .map(|i| i.request_id.clone())
                .unwrap_or_default();
            let body = Bytes::from(facts::error_body(
                facts::error_type::TIMEOUT,
                &message(&request_id),
            ));
            function
                .fail_init(
                    &io,
                    invocation,
                    init_duration,
                    facts::error_type::TIMEOUT,
                    body,
                    vec![message(&request_id)],
                )
                .await;
        });
    }

    /// The process of instance `instance_id` exited (`None`: waiting on it failed).
    pub(super) fn on_exit(self: &Arc<Self>, instance_id: u64, status: Option<ExitStatus>) {
        let mut state = lock(&self.state);
        let Some(mut instance) = state.instances.remove(&instance_id) else {
            // Already retired (timeout, init error): nothing is waiting on this process.
            return;
        };
        instance.retire();
        let exit = status.map_or(
            Exit {
                code: None,
                signal: None,
            },
            |status| Exit {
                code: status.code(),
                signal: status.signal(),
            },
        );
        let io = Arc::clone(&instance.io);
        // Killed by the kernel for exceeding its memory: Lambda's Runtime.OutOfMemory.
        let error_type = match &io.cgroup {
            Some(cgroup) if cgroup.oom_killed() => facts::error_type::OUT_OF_MEMORY,
            _ => facts::error_type::EXIT,
        };
        io.sample_cgroup_peak();
        // Whatever the function left running in its group or cgroup goes with it.
        io.kill_all();
        let ended = instance.life.end();
        if ended.during_init {
            let invocation = take_queued(&mut state.queue, instance.life.tenant());
            self.dispatch(&mut state);
            drop(state);
            let init_duration = instance.spawned_at.elapsed();
            let function = Arc::clone(self);
            self.handle.spawn(async move {
                let request_id = invocation
                    .as_ref()
                    .map(|i| i.request_id.clone())
                    .unwrap_or_default();
                let message = format!(
                    "RequestId: {request_id} Error: {}",
                    facts::runtime_exited(exit.code, exit.signal)
                );
                let body = Bytes::from(facts::error_body(error_type, &message));
                let lines = vec![message.clone(), error_type.to_string()];
                function
                    .fail_init(&io, invocation, init_duration, error_type, body, lines)
                    .await;
            });
            return;
        }
        let (delivered, undelivered): (Vec<Running<Job>>, Vec<Running<Job>>) = ended
            .running
            .into_iter()
            .partition(|running| running.delivered_at.is_some());
        // What the runtime never saw goes to another instance instead of failing.
        for running in undelivered.into_iter().rev() {
            state.queue.push_front(running.invocation.invocation);
        }
        self.dispatch(&mut state);
        drop(state);
        if delivered.is_empty() {
            let function = Arc::clone(self);
            self.handle.spawn(async move {
                io.flush().await;
                function.log_line(&format!(
                    "Runtime exited: {}",
                    facts::exit_wording(exit.code, exit.signal)
                ));
                io.close_writer();
            });
            return;
        }
        for running in delivered {
            self.handle.spawn(Arc::clone(self).finish(
                instance_id,
                Arc::clone(&io),
                running,
                Ending::Crash { exit, error_type },
                false,
            ));
        }
    }

    /// Writes the invocation's closing log lines, answers the caller and, if the instance
    /// lives on, makes it ready for the next invocation.
    pub(super) async fn finish(
        self: Arc<Self>,
        instance_id: u64,
        io: Arc<InstanceIo>,
        mut running: Running<Job>,
        ending: Ending,
        alive: bool,
    ) {
        let duration = running
            .delivered_at
            .map(|at| at.elapsed())
            .unwrap_or_default();
        if let Some(timer) = running.invocation.timer.take() {
            timer.abort();
        }
        io.flush().await;
        let max_memory_used_mb = io.max_memory_used_mb().await;
        let request_id = running.invocation.invocation.request_id.clone();
        let mut lines = Vec::new();
        let (body, function_error, status, error_type) = match ending {
            Ending::Response(body) => (body, false, None, None),
            Ending::FunctionError { body, error_type } => (body, true, None, Some(error_type)),
            Ending::ResponseTooLarge { limit } => {
                let message = format!(
                    "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                );
                let error_type = facts::error_type::RESPONSE_TOO_LARGE;
                lines.push(format!("RequestId: {request_id} Error: {message}"));
                (
                    Bytes::from(facts::error_body(error_type, &message)),
                    true,
                    Some("error"),
                    Some(error_type.to_string()),
                )
            }
            Ending::SandboxError {
                message,
                error_type,
            } => {
                lines.push(message.clone());
                (
                    Bytes::from(facts::error_body(error_type, &message)),
                    true,
                    Some("error"),
                    Some(error_type.to_string()),
                )
            }
            Ending::Timeout => {
                let seconds = logs::seconds(self.config.timeout);
                lines.push(format!(
                    "{} {request_id} Task timed out after {seconds} seconds",
                    lamina_context::time::rfc3339_millis(SystemTime::now())
                ));
                let message = format!(
                    "RequestId: {request_id} Error: Task timed out after {seconds} seconds"
                );
                (
                    Bytes::from(facts::error_body(facts::error_type::TIMEOUT, &message)),
                    true,
                    Some("timeout"),
                    None,
                )
            }
            Ending::Crash { exit, error_type } => {
                let message = format!(
                    "RequestId: {request_id} Error: {}",
                    facts::runtime_exited(exit.code, exit.signal)
                );
                lines.push(message.clone());
                lines.push(error_type.to_string());
                (
                    Bytes::from(facts::error_body(error_type, &message)),
                    true,
                    Some("error"),
                    Some(error_type.to_string()),
                )
            }
        };
        lines.push(logs::end_line(&request_id));
        lines.push(logs::report_line(&Report {
            request_id: &request_id,
            duration,
            memory_size_mb: self.config.memory_mb,
            max_memory_used_mb,
            init_duration: running.init_duration,
            status,
            error_type: if status.is_some() {
                error_type.as_deref()
            } else {
                None
            },
        }));
        let mut invocation_log = io.take_current();
        for line in &lines {
            self.log_line(line);
            invocation_log.push_str(line);
            invocation_log.push('\n');
        }
        if let Some(responder) = running.invocation.invocation.responder.take() {
            let _ = responder.send(Completion {
                body,
                function_error,
                log_tail: logs::tail(&invocation_log).to_string(),
            });
        }
        if alive {
            let mut state = lock(&self.state);
            if let Some(instance) = state.instances.get_mut(&instance_id)
                && instance.life.finished()
            {
                self.dispatch(&mut state);
            }
        } else {
            io.close_writer();
        }
    }

    /// Answers `invocation` (if any) with an error from an instance that never got ready.
    pub(super) async fn fail_init(
        &self,
        io: &Arc<InstanceIo>,
        invocation: Option<Invocation>,
        init_duration: Duration,
        error_type: &str,
        body: Bytes,
        error_lines: Vec<String>,
    ) {
        io.flush().await;
        let max_memory_used_mb = io.max_memory_used_mb().await;
        let mut log = io.take_current();
        let status = if error_type == facts::error_type::TIMEOUT {
            "timeout"
        } else {
            "error"
        };
        let mut lines = vec![logs::init_report_line(init_duration, status, error_type)];
        if let Some(invocation) = &invocation {
            let request_id = &invocation.request_id;
            lines.push(logs::start_line(request_id));
            lines.extend(error_lines);
            lines.push(logs::end_line(request_id));
            lines.push(logs::report_line(&Report {
                request_id,
                duration: init_duration,
                memory_size_mb: self.config.memory_mb,
                max_memory_used_mb,
                init_duration: None,
                status: Some("error"),
                error_type: Some(error_type),
            }));
        }
        for line in &lines {
            self.log_line(line);
            log.push_str(line);
            log.push('\n');
        }
        if let Some(responder) = invocation.and_then(|i| i.responder) {
            let _ = responder.send(Completion {
                body,
                function_error: true,
                log_tail: logs::tail(&log).to_string(),
            });
        }
        if self.external {
            // The endpoint waits for the next attempt; its init output is logged afresh.
            io.restart_current();
        } else {
            io.close_writer();
        }
    }

    /// Answers an invocation for which no process could be started.
    pub(super) fn fail_without_instance(
        &self,
        invocation: Invocation,
        error_type: &str,
        reason: &str,
    ) {
        let request_id = &invocation.request_id;
        let message = format!("RequestId: {request_id} Error: {reason}");
        let lines = [
            logs::start_line(request_id),
            message.clone(),
            error_type.to_string(),
            logs::end_line(request_id),
            logs::report_line(&Report {
                request_id,
                duration: Duration::ZERO,
                memory_size_mb: self.config.memory_mb,
                max_memory_used_mb: 0,
                init_duration: None,
                status: Some("error"),
                error_type: Some(error_type),
            }),
        ];
        let mut log = String::new();
        for line in &lines {
            self.log_line(line);
            log.push_str(line);
            log.push('\n');
        }
        if let Some(responder) = invocation.responder {
            let _ = responder.send(Completion {
                body: Bytes::from(facts::error_body(error_type, &message)),
                function_error: true,
                log_tail: logs::tail(&log).to_string(),
            });
        }
    }
}
