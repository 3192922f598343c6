//! Async handlers on one current-thread tokio runtime, built once at init.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::concurrent::SharedHandler;
use crate::serve::{decode_event, encode_response, exit};
use crate::{Config, Context, Error, run_raw_with_init, start_with};

/// Serves JSON events with an async `handler` until the runtime must stop, then exits
/// non-zero. The handler gets its own copy of the [`Context`], so its future borrows nothing.
///
/// The tokio runtime is a current-thread one with every driver the program's tokio features
/// enable (`time`, `net`, ...); it is built once, before the first event.
pub fn run_async<E, R, F, Fut>(handler: F) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    F: FnMut(E, Context) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
{
    run_async_with_init(move |_: Config| async move { Ok(handler) })
}

/// Builds an async handler once with the async `init`, then serves JSON events with it. An
/// `Err` from `init` is posted to `/runtime/init/error` and the process exits non-zero.
pub fn run_async_with_init<E, R, H, Fut, I, InitFut>(init: I) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    H: FnMut(E, Context) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
    I: FnOnce(Config) -> InitFut,
    InitFut: Future<Output = Result<H, Error>>,
{
    run_raw_with_init(move |config: &Config| {
        let tokio = crate::asynchronous::current_thread_runtime()?;
        let mut handler = tokio.block_on(init(config.clone()))?;
        Ok(move |event: Vec<u8>, context: &Context| {
            let event: E = decode_event(&event)?;
            let response = tokio.block_on(handler(event, context.clone()))?;
            encode_response(&response)
        })
    })
}

/// Serves JSON events with an async `handler`, up to `AWS_LAMBDA_MAX_CONCURRENCY` at once (see
/// [`run_concurrent`](crate::run_concurrent)), until the runtime must stop, then exits
/// non-zero.
pub fn run_async_concurrent<E, R, F, Fut>(handler: F) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    F: Fn(E, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>>,
{
    run_async_concurrent_with_init(move |_: Config| async move { Ok(handler) })
}

/// Builds a shared async handler once with the async `init`, then serves JSON events with it
/// as [`run_async_concurrent`] does.
///
/// Each slot's thread runs its invocation's future itself (it need not be `Send`); one more
/// thread drives the current-thread tokio runtime's I/O and timers for all of them, so
/// clients built in `init` keep working in every slot.
pub fn run_async_concurrent_with_init<E, R, H, Fut, I, InitFut>(init: I) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    H: Fn(E, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>>,
    I: FnOnce(Config) -> InitFut,
    InitFut: Future<Output = Result<H, Error>>,
{
    let mut slots = 1;
    let (runtime, (tokio, handler)) = start_with(|config: &Config| {
        slots = usize::try_from(config.max_concurrency.get()).unwrap_or(1);
        let tokio = crate::asynchronous::current_thread_runtime()?;
        let handler = tokio.block_on(init(config.clone()))?;
        Ok((tokio, handler))
    });
    let handle = tokio.handle().clone();
    // `Handle::block_on` on a current-thread runtime drives no I/O or timers itself: this
    // thread does, for the whole life of the process.
    let driver = std::thread::Builder::new()
        .name("lamina-tokio".into())
        .spawn(move || tokio.block_on(std::future::pending::<()>()));
    if let Err(error) = driver {
        exit(crate::serve::FatalError::Slots {
            slots,
            message: format!("cannot start the tokio driver thread: {error}"),
        });
    }
    let shared: Arc<SharedHandler> = Arc::new(move |event: Vec<u8>, context: &Context| {
        let event: E = decode_event(&event)?;
        let response = handle.block_on(handler(event, context.clone()))?;
        encode_response(&response)
    });
    exit(runtime.serve_concurrent(slots, shared))
}

/// The current-thread tokio runtime every async form runs on, with every driver the program's
/// tokio features enable (`time`, `net`, ...); built once, at init.
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::msg(format!("cannot start the tokio runtime: {error}")))
}
