//! Asynchronous (`Event`) invocations as Lambda runs them: accepted into a bounded queue,
//! retried after a failure (twice by default, about 1 and 2 minutes later), and, when every
//! attempt failed, written to an on-failure folder in the shape of Lambda's on-failure
//! destination record.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use lamina_context::facts;
use serde_json::{Value, json};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::config::AsyncConfig;
use crate::function::Function;
use crate::invocation::{Completion, Invocation};

/// One accepted event, as the caller sent it.
pub struct Event {
    /// The JSON payload (already checked).
    pub payload: Bytes,
    /// Compact JSON for `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
    /// Compact JSON for `Lambda-Runtime-Cognito-Identity`.
    pub cognito_identity: Option<String>,
    /// The tenant it runs for (`X-Amz-Tenant-Id`), on a function with tenant isolation.
    pub tenant_id: Option<String>,
}

/// The queue is full: the event would take it past one of its bounds.
#[derive(Debug)]
pub struct Full {
    /// The bound's events count.
    pub max_events: usize,
    /// The bound's bytes count.
    pub max_bytes: usize,
}

/// Events accepted and not yet finished, over all functions.
pub struct AsyncQueue {
    config: AsyncConfig,
    used: Mutex<Usage>,
    handle: Handle,
}

#[derive(Default)]
struct Usage {
    events: usize,
    bytes: usize,
}

/// An event's place in the queue, given back when dropped: when the event is finished, or
/// when the emulator shuts down and drops its task.
struct Place {
    queue: Arc<AsyncQueue>,
    bytes: usize,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut used = lock(&self.queue.used);
        used.events -= 1;
        used.bytes -= self.bytes;
    }
}

impl AsyncQueue {
    /// An empty queue whose events run on `handle`.
    pub fn new(config: AsyncConfig, handle: Handle) -> Arc<Self> {
        Arc::new(AsyncQueue {
            config,
            used: Mutex::new(Usage::default()),
            handle,
        })
    }

    /// Accepts `event` for `function` and returns its request id at once; the event runs,
    /// and is retried, in the background. `Err` when the queue has no room for it.
    pub fn submit(self: &Arc<Self>, function: Arc<Function>, event: Event) -> Result<String, Full> {
        let place = self.reserve(event.payload.len())?;
        let request_id = crate::ids::request_id();
        let queue = Arc::clone(self);
        let id = request_id.clone();
        self.handle.spawn(async move {
            let _place = place;
            queue.run(&function, &id, event).await;
        });
        Ok(request_id)
    }

    fn reserve(self: &Arc<Self>, bytes: usize) -> Result<Place, Full> {
        let mut used = lock(&self.used);
        if used.events >= self.config.max_queued_events
            || used.bytes + bytes > self.config.max_queued_bytes
        {
            return Err(Full {
                max_events: self.config.max_queued_events,
                max_bytes: self.config.max_queued_bytes,
            });
        }
        used.events += 1;
        used.bytes += bytes;
        Ok(Place {
            queue: Arc::clone(self),
            bytes,
        })
    }

    /// Runs the event until an attempt succeeds or the retries are spent; then records it.
    async fn run(&self, function: &Arc<Function>, request_id: &str, event: Event) {
        let mut attempts: u32 = 0;
        loop {
            let (tx, rx) = oneshot::channel();
            let mut invocation = Invocation::new(event.payload.clone(), Some(tx));
            // Lambda retries an event under the same request id.
            invocation.request_id = request_id.to_string();
            invocation.client_context = event.client_context.clone();
            invocation.cognito_identity = event.cognito_identity.clone();
            invocation.tenant_id = event.tenant_id.clone();
            function.enqueue(invocation);
            attempts += 1;
            // A dropped responder means the emulator is stopping: nothing more to do.
            let Ok(completion) = rx.await else { return };
            if !completion.function_error {
                return;
            }
            let retry = (attempts - 1) as usize;
            if attempts > self.config.retries || retry >= self.config.retry_delays.len() {
                self.record_failure(function, request_id, &event.payload, attempts, &completion);
                return;
            }
            tokio::time::sleep(self.config.retry_delays[retry]).await;
        }
    }

    fn record_failure(
        &self,
        function: &Function,
        request_id: &str,
        payload: &Bytes,
        attempts: u32,
        completion: &Completion,
    ) {
        let Some(dir) = &self.config.on_failure else {
            return;
        };
        let record = failure_record(
            &function.arn,
            request_id,
            payload,
            attempts,
            completion,
            SystemTime::now(),
        );
        if let Err(err) = write_then_rename(dir, request_id, &record) {
            to_stderr!(
                "lamina-emulator: cannot write the failed event {request_id} to {}: {err}",
                dir.display()
            );
        }
    }
}

/// Lambda's on-failure destination record for an event that failed every attempt.
fn failure_record(
    function_arn: &str,
    request_id: &str,
    payload: &[u8],
    attempts: u32,
    completion: &Completion,
    now: SystemTime,
) -> Value {
    json!({
        "version": "1.0",
        "timestamp": lamina_context::time::rfc3339_millis(now),
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("{function_arn}:$LATEST"),
            "condition": facts::ASYNC_RETRIES_EXHAUSTED,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": as_json(payload),
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": as_json(&completion.body),
    })
}

/// The payload as JSON, or as a string when it is not JSON.
fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Writes `{dir}/{request_id}.json` whole or not at all: to a hidden temporary name first.
fn write_then_rename(dir: &Path, request_id: &str, record: &Value) -> std::io::Result<PathBuf> {
    let target = dir.join(format!("{request_id}.json"));
    let partial = dir.join(format!(".{request_id}.json.partial"));
    let mut text = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    text.push(b'\n');
    std::fs::write(&partial, &text)?;
    if let Err(err) = std::fs::rename(&partial, &target) {
        let _ = std::fs::remove_file(&partial);
        return Err(err);
    }
    Ok(target)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_record_has_lambdas_shape() {
        let completion = Completion {
            body: Bytes::from_static(br#"{"errorMessage":"boom","errorType":"Oops"}"#),
            function_error: true,
            log_tail: String::new(),
        };
        let record = failure_record(
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "id-1",
            br#"{"k":1}"#,
            3,
            &completion,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            record,
            json!({
                "version": "1.0",
                "timestamp": "1970-01-01T00:00:00.000Z",
                "requestContext": {
                    "requestId": "id-1",
                    "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3,
                },
                "requestPayload": {"k": 1},
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "responsePayload": {"errorMessage": "boom", "errorType": "Oops"},
            })
        );
        assert_eq!(as_json(b"not json"), Value::String("not json".into()));
    }
}
