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

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::serve::{FatalError, Runtime, decode_event, encode_response, exit};

use crate::{Config, Context, Error, ResponseStream, start_with};

/// A handler on bytes that may run on several threads at once.
pub(crate) type SharedHandler = dyn Fn(Vec<u8>, &Context) -> Result<Vec<u8>, Error> + Send + Sync;

/// One slot's invocation loop, run on each slot's own [`Runtime`].
pub(crate) type SlotLoop = dyn Fn(&Runtime) -> FatalError + Send + Sync;

impl Runtime {
    /// Serves with `slots` threads, each with its own connection, until one of them must stop;
    /// returns why. One slot is the sequential loop itself.
    pub(crate) fn serve_concurrent(&self, slots: usize, handler: Arc<SharedHandler>) -> FatalError {
        self.serve_slots(
            slots,
            Arc::new(move |runtime: &Runtime| {
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
            let mut runtime = Runtime::new(self.client.base().to_string(), self.retry);
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

/// Serves JSON events with `handler`, up to `AWS_LAMBDA_MAX_CONCURRENCY` at once (one at a time
/// when it is unset, as on every Lambda but Managed Instances), until the runtime must stop,
/// then exits non-zero.
///
/// The handler is shared by every slot, so it is `Fn + Sync`: state it changes needs a lock or
/// an atomic. A panic or an error fails only its own invocation.
pub fn run_concurrent<E, R, F>(handler: F) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    F: Fn(E, &Context) -> Result<R, Error> + Send + Sync + 'static,
{
    run_concurrent_with_init(move |_: &Config| Ok(handler))
}

/// Builds a shared handler once with `init`, then serves JSON events with it as
/// [`run_concurrent`] does. An `Err` from `init` is posted to `/runtime/init/error` and the
/// process exits non-zero.
pub fn run_concurrent_with_init<E, R, H, I>(init: I) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    H: Fn(E, &Context) -> Result<R, Error> + Send + Sync + 'static,
    I: FnOnce(&Config) -> Result<H, Error>,
{
    run_raw_concurrent_with_init(move |config: &Config| {
        let handler = init(config)?;
        Ok(move |event: Vec<u8>, context: &Context| {
            encode_response(&handler(decode_event(&event)?, context)?)
        })
    })
}

/// Builds a shared raw-bytes handler once with `init` (which can read
/// [`Config::max_concurrency`] to prepare one resource per slot), then serves events with it,
/// up to `AWS_LAMBDA_MAX_CONCURRENCY` at once: the most general concurrent form.
pub fn run_raw_concurrent_with_init<H, I>(init: I) -> !
where
    H: Fn(Vec<u8>, &Context) -> Result<Vec<u8>, Error> + Send + Sync + 'static,
    I: FnOnce(&Config) -> Result<H, Error>,
{
    let mut slots = 1;
    let (runtime, handler) = start_with(|config: &Config| {
        slots = usize::try_from(config.max_concurrency.get()).unwrap_or(1);
        init(config)
    });
    exit(runtime.serve_concurrent(slots, Arc::new(handler)))
}

/// Builds a shared raw-bytes streaming handler once with `init`, then serves events with it,
/// up to `AWS_LAMBDA_MAX_CONCURRENCY` at once, each with its own [`ResponseStream`]. The
/// handler chooses per invocation whether to stream (write to the stream) or to answer
/// buffered ([`ResponseStream::respond_buffered`]): the most general form of all, on which
/// lamina's universal bootstrap is built.
pub fn run_streaming_raw_concurrent_with_init<H, I>(init: I) -> !
where
    H: Fn(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error> + Send + Sync + 'static,
    I: FnOnce(&Config) -> Result<H, Error>,
{
    let mut slots = 1;
    let (runtime, handler) = start_with(|config: &Config| {
        slots = usize::try_from(config.max_concurrency.get()).unwrap_or(1);
        init(config)
    });
    exit(runtime.serve_slots(
        slots,
        Arc::new(move |runtime: &Runtime| {
            runtime.serve_streaming(&mut |event, context: &Context, out: &mut ResponseStream| {
                handler(event, context, out)
            })
        }),
    ))
}
