//! Async streaming handlers: the handler's future writes its response to an
//! [`AsyncResponseStream`], on the same current-thread tokio runtime as the other async forms.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use serde::de::DeserializeOwned;

use crate::serve::decode_event;
use crate::stream::HttpPrelude;
use crate::{Config, Context, Error, ResponseStream, run_streaming_raw_with_init};

/// The invocation's stream, lent to the handler's future and taken back when it ends.
type Lent = Rc<RefCell<Option<ResponseStream>>>;

/// Where an async streaming handler writes its response: the async face of
/// [`ResponseStream`], with the same promises (each write leaves at once as one chunk; an error
/// after the first byte goes in the trailers; Lambda's 200 MB limit).
///
/// It implements [`tokio::io::AsyncWrite`] (so `AsyncWriteExt::write_all` works with tokio's
/// `io-util` feature), and [`send`](Self::send) writes without it. Writes go straight to the
/// local Runtime API's socket, so they complete when called.
pub struct AsyncResponseStream {
    lent: Lent,
}

impl AsyncResponseStream {
    fn with<T>(&self, use_it: impl FnOnce(&mut ResponseStream) -> io::Result<T>) -> io::Result<T> {
        match self.lent.borrow_mut().as_mut() {
            Some(stream) => use_it(stream),
            None => Err(io::Error::other(
                "the invocation this stream belonged to is over",
            )),
        }
    }

    /// Writes all of `data` as one chunk.
    pub fn send(&self, data: &[u8]) -> io::Result<()> {
        self.with(|stream| stream.write_all(data))
    }

    /// See [`ResponseStream::set_content_type`].
    pub fn set_content_type(&self, content_type: &str) -> io::Result<()> {
        self.with(|stream| stream.set_content_type(content_type))
    }

    /// See [`ResponseStream::start_http`].
    pub fn start_http(&self, prelude: &HttpPrelude) -> io::Result<()> {
        self.with(|stream| stream.start_http(prelude))
    }

    /// Whether the first byte has been sent.
    pub fn started(&self) -> bool {
        self.with(|stream| Ok(stream.started())).unwrap_or(true)
    }
}

impl tokio::io::AsyncWrite for AsyncResponseStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.with(|stream| stream.write(data)))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Puts the lent stream back where the loop finishes it, even when the handler panicked, so
/// an error after the first byte still ends the request properly (in the trailers).
struct GiveBack<'a> {
    out: &'a mut ResponseStream,
    lent: Lent,
}

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        if let Ok(mut lent) = self.lent.try_borrow_mut()
            && let Some(stream) = lent.take()
        {
            *self.out = stream;
        }
    }
}

/// Serves JSON events with an async streaming handler until the runtime must stop, then exits
/// non-zero. The handler gets its own copy of the [`Context`] and the invocation's
/// [`AsyncResponseStream`], so its future borrows nothing.
pub fn run_streaming_async<E, F, Fut>(handler: F) -> !
where
    E: DeserializeOwned,
    F: FnMut(E, Context, AsyncResponseStream) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    run_streaming_async_with_init(move |_: Config| async move { Ok(handler) })
}

/// Builds an async streaming handler once with the async `init`, then serves JSON events with
/// it. An `Err` from `init` is posted to `/runtime/init/error` and the process exits non-zero.
pub fn run_streaming_async_with_init<E, H, Fut, I, InitFut>(init: I) -> !
where
    E: DeserializeOwned,
    H: FnMut(E, Context, AsyncResponseStream) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
    I: FnOnce(Config) -> InitFut,
    InitFut: Future<Output = Result<H, Error>>,
{
    run_streaming_raw_with_init(move |config: &Config| {
        let tokio = crate::asynchronous::current_thread_runtime()?;
        let handler = tokio.block_on(init(config.clone()))?;
        Ok(on_runtime(tokio, handler))
    })
}

/// The async handler as the loop's synchronous streaming handler: each event's future runs
/// to its end on `tokio`, holding the invocation's stream meanwhile.
pub(crate) fn on_runtime<E, H, Fut>(
    tokio: tokio::runtime::Runtime,
    mut handler: H,
) -> impl FnMut(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error>
where
    E: DeserializeOwned,
    H: FnMut(E, Context, AsyncResponseStream) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    move |event: Vec<u8>, context: &Context, out: &mut ResponseStream| {
        let event: E = decode_event(&event)?;
        let placeholder = out.placeholder();
        let lent: Lent = Rc::new(RefCell::new(Some(std::mem::replace(out, placeholder))));
        let _give_back = GiveBack {
            out,
            lent: lent.clone(),
        };
        let stream = AsyncResponseStream { lent };
        tokio.block_on(handler(event, context.clone(), stream))
    }
}
