//! Async HTTP handlers on the runtime's current-thread tokio runtime.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use lamina_runtime::{Context, Error, Runtime, Sequential};

use crate::body::Body;
use crate::handle::{answer, request_of};
use crate::request::EventKind;

/// Serves HTTP events with an async `handler`: what [`ServeHttp::serve_http_async`](crate::ServeHttp::serve_http_async) does.
pub(crate) fn serve<F, Fut>(runtime: Runtime<Sequential>, mut handler: F) -> !
where
    F: FnMut(http::Request<Body>, Context) -> Fut,
    Fut: Future<Output = Result<http::Response<Body>, Error>>,
{
    runtime.serve_async_raw(move |event: Vec<u8>, context: Context| {
        finish(start(&event, context, &mut handler))
    })
}

/// The request an event carries and the handler's future for it, or the event's error. The
/// future is made here, before the async part, so it borrows nothing of the handler; a panic
/// while it is made is caught here (one while it runs, by [`finish`]).
type Started<Fut> = Result<(std::thread::Result<Fut>, EventKind), Error>;

/// The first, synchronous half of the async [`handle_event`](crate::handle_event).
fn start<F, Fut>(event: &[u8], context: Context, handler: F) -> Started<Fut>
where
    F: FnOnce(http::Request<Body>, Context) -> Fut,
{
    request_of(event).map(|(request, kind)| {
        let future = catch_unwind(AssertUnwindSafe(|| handler(request, context)));
        (future, kind)
    })
}

/// The second half: runs the handler's future; its response, error or panic becomes the
/// answer ([`answer`]: a logged 500 for an error or a panic).
async fn finish<Fut>(started: Started<Fut>) -> Result<Vec<u8>, Error>
where
    Fut: Future<Output = Result<http::Response<Body>, Error>>,
{
    let (future, kind) = started?;
    let outcome = match future {
        Ok(future) => CatchPanic(Box::pin(future)).await,
        Err(panic) => Err(panic),
    };
    answer(outcome, kind)
}

/// A future whose panic while polled becomes its output, so a panicking handler is answered
/// 500 as the blocking handlers are, not reported as a Lambda function error.
struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;

    const EVENT: &str =
        include_str!("../tests/fixtures/example-apigw-v2-request-jwt-authorizer.json");

    fn finish_start<F, Fut>(
        event: &[u8],
        context: Context,
        handler: F,
    ) -> impl Future<Output = Result<Vec<u8>, Error>>
    where
        F: FnOnce(http::Request<Body>, Context) -> Fut,
        Fut: Future<Output = Result<http::Response<Body>, Error>>,
    {
        finish(start(event, context, handler))
    }

    fn status(answer: Result<Vec<u8>, Error>) -> serde_json::Value {
        let json: serde_json::Value = serde_json::from_slice(&answer.unwrap()).unwrap();
        json["statusCode"].clone()
    }

    /// A panic while the handler's future runs, while it is made, or an error, is a 500 (as
    /// for the blocking handlers), never a Lambda function error.
    #[test]
    fn an_async_handler_panic_or_error_is_a_500() {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let context = || {
            Context::new(
                "req-1",
                std::time::SystemTime::now() + std::time::Duration::from_secs(60),
            )
        };
        let ok = finish_start(EVENT.as_bytes(), context(), |_, _| async {
            Ok(http::Response::new(Body::from("fine")))
        });
        assert_eq!(status(tokio.block_on(ok)), 200);
        let panics_polled = finish_start(EVENT.as_bytes(), context(), |_, _| async {
            tokio::task::yield_now().await;
            panic!("broke while polled")
        });
        assert_eq!(status(tokio.block_on(panics_polled)), 500);
        let panics_made = finish_start(
            EVENT.as_bytes(),
            context(),
            |_, _| -> std::future::Ready<Result<http::Response<Body>, Error>> {
                panic!("broke while made")
            },
        );
        assert_eq!(status(tokio.block_on(panics_made)), 500);
        let fails = finish_start(EVENT.as_bytes(), context(), |_, _| async {
            Err(Error::msg("the database is down"))
        });
        assert_eq!(status(tokio.block_on(fails)), 500);
        let not_http = finish_start(b"{}", context(), |_, _| async {
            Ok(http::Response::new(Body::Empty))
        });
        let error = tokio.block_on(not_http).unwrap_err();
        assert_eq!(error.error_type(), Some("Runtime.DeserializationError"));
    }
}
