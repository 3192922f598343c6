//! Async handlers on one current-thread tokio runtime, built once at init.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::serve::{decode_event, encode_response};
use crate::{Config, Context, Error, run_raw_with_init};

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
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| Error::msg(format!("cannot start the tokio runtime: {error}")))?;
        let mut handler = tokio.block_on(init(config.clone()))?;
        Ok(move |event: Vec<u8>, context: &Context| {
            let event: E = decode_event(&event)?;
            let response = tokio.block_on(handler(event, context.clone()))?;
            encode_response(&response)
        })
    })
}
