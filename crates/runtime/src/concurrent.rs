//! Serving several invocations at once from one process (`AWS_LAMBDA_MAX_CONCURRENCY`, set by
//! Lambda Managed Instances): one slot per allowed invocation, each a thread with its own
//! Runtime API connection polling `/next`, all sharing one `Fn + Sync` handler.
//!
//! What changes for the handler when more than one slot runs: the trace id is not exported as
//! `_X_AMZN_TRACE_ID` (the environment is the whole process's; read
//! [`Context::trace_id`](crate::Context) instead, as AWS says for this mode), and log lines
//! carry the request id of the slot's thread only.

use std::sync::Arc;
use std::sync::mpsc;

use crate::serve::{Connection, FatalError};
use crate::{Context, Error};

/// A handler on bytes that may run on several threads at once.
pub(crate) type SharedHandler = dyn Fn(Vec<u8>, &Context) -> Result<Vec<u8>, Error> + Send + Sync;

/// One slot's invocation loop, run on each slot's own [`Connection`].
pub(crate) type SlotLoop = dyn Fn(&Connection) -> FatalError + Send + Sync;

impl Connection {
    /// Serves with `slots` threads, each with its own connection, until one of them must stop;
    /// returns why. One slot is the sequential loop itself.
    pub(crate) fn serve_concurrent(&self, slots: usize, handler: Arc<SharedHandler>) -> FatalError {
        self.serve_slots(
            slots,
            Arc::new(move |runtime: &Connection| {
                runtime.serve(&mut |event, context: &Context| handler(event, context))
            }),
        )
    }

    /// Runs `slot_loop` on `slots` threads, each with a connection of its own, until one of
    /// them must stop; returns why. One slot runs it on this thread, with this connection.
    pub(crate) fn serve_slots(&self, slots: usize, slot_loop: Arc<SlotLoop>) -> FatalError {
        if slots <= 1 {
            return slot_loop(self);
        }
        crate::logger::set_concurrent();
        let (stopped, why) = mpsc::channel();
        for slot in 0..slots {
            let mut runtime = Connection::new(self.client.base().to_string(), self.retry);
            runtime.export_trace = false;
            let slot_loop = slot_loop.clone();
            let stopped = stopped.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("lamina-slot-{slot}"))
                .spawn(move || {
                    let _ = stopped.send(slot_loop(&runtime));
                });
            if let Err(error) = spawned {
                return FatalError::Slots {
                    slots,
                    message: error.to_string(),
                };
            }
        }
        drop(stopped);
        // The first slot that must stop stops the process: the others are blocked in their
        // `/next` long polls and end with it.
        why.recv().unwrap_or_else(|_| FatalError::Slots {
            slots,
            message: "every slot ended without saying why".into(),
        })
    }
}
