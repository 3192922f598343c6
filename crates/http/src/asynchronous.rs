//! Async HTTP handlers on one current-thread tokio runtime, built once at init.

use std::future::Future;

use crate::{Body, Config, Context, Error, handle_event};

/// Serves HTTP events with an async `handler`; the handler gets its own copy of the context.
pub fn run_http_async<F, Fut>(handler: F) -> !
where
    F: FnMut(http::Request<Body>, Context) -> Fut,
    Fut: Future<Output = Result<http::Response<Body>, Error>>,
{
    run_http_async_with_init(move |_: Config| async move { Ok(handler) })
}

/// Builds an async HTTP handler once with the async `init`, then serves HTTP events with it.
pub fn run_http_async_with_init<H, Fut, I, InitFut>(init: I) -> !
where
    H: FnMut(http::Request<Body>, Context) -> Fut,
    Fut: Future<Output = Result<http::Response<Body>, Error>>,
    I: FnOnce(Config) -> InitFut,
    InitFut: Future<Output = Result<H, Error>>,
{
    lamina_runtime::run_raw_with_init(move |config: &Config| {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| Error::msg(format!("cannot start the tokio runtime: {error}")))?;
        let mut handler = tokio.block_on(init(config.clone()))?;
        Ok(move |event: Vec<u8>, context: &Context| {
            handle_event(&event, context, |request, context| {
                tokio.block_on(handler(request, context.clone()))
            })
        })
    })
}
