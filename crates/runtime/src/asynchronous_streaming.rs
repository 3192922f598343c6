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
use crate::{Context, Error, ResponseStream};

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

/// The async handler as the loop's synchronous streaming handler: each event's future runs
/// to its end on `tokio`, holding the invocation's stream meanwhile (one invocation at a time).
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
        lend(out, |stream| {
            tokio.block_on(handler(event, context.clone(), stream))
        })
    }
}

/// The shared async handler as the slots' synchronous streaming handler: each slot's thread
/// runs its event's future to its end through `handle` (another thread drives the runtime's
/// I/O and timers), holding the invocation's stream meanwhile.
pub(crate) fn on_handle<E, H, Fut>(
    handle: tokio::runtime::Handle,
    handler: H,
) -> impl Fn(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error> + Send + Sync + 'static
where
    E: DeserializeOwned,
    H: Fn(E, Context, AsyncResponseStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>>,
{
    move |event: Vec<u8>, context: &Context, out: &mut ResponseStream| {
        let event: E = decode_event(&event)?;
        lend(out, |stream| {
            handle.block_on(handler(event, context.clone(), stream))
        })
    }
}

/// Lends the invocation's stream to `run` as an [`AsyncResponseStream`] and takes it back
/// when `run` ends, even by a panic, so the loop can finish the request.
fn lend<T>(out: &mut ResponseStream, run: impl FnOnce(AsyncResponseStream) -> T) -> T {
    let placeholder = out.placeholder();
    let lent: Lent = Rc::new(RefCell::new(Some(std::mem::replace(out, placeholder))));
    let _give_back = GiveBack {
        out,
        lent: lent.clone(),
    };
    run(AsyncResponseStream { lent })
}
