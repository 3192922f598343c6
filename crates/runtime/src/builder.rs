//! [`Runtime`]: the one way to start serving. Each choice is one call: the init phase
//! ([`Runtime::init`]), concurrency ([`Runtime::concurrent`]), then one `serve*` method that
//! says what the handler takes and gives. Every `serve*` method serves until the runtime must
//! stop, then exits the process non-zero: it never returns.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, StartError};
use crate::serve::{Connection, decode_event, encode_response, exit};
use crate::{Config, Context, ResponseStream};

/// The mode of a [`Runtime`] from [`Runtime::from_env`]: one invocation at a time, so the
/// handler is an `FnMut` and may keep state without locks.
#[derive(Debug)]
pub enum Sequential {}

/// The mode of a [`Runtime`] from [`Runtime::concurrent`]: up to `AWS_LAMBDA_MAX_CONCURRENCY`
/// invocations at once, so the handler is `Fn + Send + Sync` and shared by every slot.
#[derive(Debug)]
pub enum Concurrent {}

/// A started runtime: the configuration read once from the environment, the logger installed,
/// the Runtime API's address checked. Nothing has been asked of the Runtime API yet.
///
/// ```no_run
/// use lamina_runtime::{Context, Error, Runtime, StartError};
///
/// fn main() -> Result<(), StartError> {
///     let runtime = Runtime::from_env()?;
///     // The init phase: an `Err` or a panic is posted to `/runtime/init/error`.
///     let greeting = runtime.init(|config| Ok(format!("Hello from {:?}", config.function_name)))?;
///     runtime.serve(move |name: String, _: &Context| -> Result<String, Error> {
///         Ok(format!("{greeting}, {name}!"))
///     })
/// }
/// ```
///
/// `Mode` is [`Sequential`] (one invocation at a time, `FnMut` handlers) until
/// [`concurrent`](Runtime::concurrent) makes it [`Concurrent`]. The `serve*` methods, the
/// same in both modes:
///
/// | method | handler (`Sequential`; `Concurrent` takes `Fn + Send + Sync + 'static`) |
/// |---|---|
/// | [`serve`](Runtime::serve) | `FnMut(E, &Context) -> Result<R, Error>`: JSON in, JSON out |
/// | [`serve_raw`](Runtime::serve_raw) | `FnMut(Vec<u8>, &Context) -> Result<Vec<u8>, Error>` |
/// | [`serve_streaming`](Runtime::serve_streaming) | `FnMut(E, &Context, &mut ResponseStream) -> Result<(), Error>` |
/// | [`serve_streaming_raw`](Runtime::serve_streaming_raw) | `FnMut(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error>`; streamed, or buffered per invocation with [`ResponseStream::respond_buffered`] |
/// | `serve_async` (feature `tokio`) | `FnMut(E, Context) -> impl Future<Output = Result<R, Error>>` |
/// | `serve_async_raw` (feature `tokio`) | `FnMut(Vec<u8>, Context) -> impl Future<Output = Result<Vec<u8>, Error>>` |
/// | `serve_streaming_async` (feature `tokio`) | `FnMut(E, Context, AsyncResponseStream) -> impl Future<Output = Result<(), Error>>` |
pub struct Runtime<Mode = Sequential> {
    connection: Connection,
    config: Config,
    /// The current-thread tokio runtime every async form runs on, built by the first
    /// `init_async` or `serve_async*`, so clients built at init keep working in the handler.
    #[cfg(feature = "tokio")]
    tokio: Option<tokio::runtime::Runtime>,
    mode: PhantomData<Mode>,
}

impl<Mode> fmt::Debug for Runtime<Mode> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("runtime_api", &self.connection.client.base())
            .field("config", &self.config)
            .field("mode", &std::any::type_name::<Mode>())
            .finish()
    }
}

impl Runtime<Sequential> {
    /// Reads the function's configuration from the environment (once), installs Lambda's
    /// logger (unless the program installed one first) and checks `AWS_LAMBDA_RUNTIME_API`.
    ///
    /// A malformed `AWS_LAMBDA_*` variable is posted to `/runtime/init/error` as
    /// `Runtime.ConfigError` whenever the Runtime API's address is usable; when the address
    /// itself is missing or unusable there is nobody to post to. Either way the error is
    /// returned, and the process has nothing left to do but exit.
    pub fn from_env() -> Result<Self, StartError> {
        let (connection, config) = Connection::start()?;
        Ok(Self {
            connection,
            config,
            #[cfg(feature = "tokio")]
            tokio: None,
            mode: PhantomData,
        })
    }

    /// Serves up to `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once from this process (one
    /// at a time when it is unset, as on every Lambda but Managed Instances): one thread per
    /// slot, each with its own Runtime API connection polling `/next`, all sharing one
    /// `Fn + Send + Sync` handler (state it changes needs a lock or an atomic). A panic or an
    /// error fails only its own invocation.
    ///
    /// With more than one slot, the trace id is not exported as `_X_AMZN_TRACE_ID` (the
    /// environment is the whole process's): read [`Context::trace_id`], as AWS documents for
    /// this mode; log lines carry the request id of their slot's invocation.
    pub fn concurrent(self) -> Runtime<Concurrent> {
        Runtime {
            connection: self.connection,
            config: self.config,
            #[cfg(feature = "tokio")]
            tokio: self.tokio,
            mode: PhantomData,
        }
    }

    /// Serves JSON events: each is deserialized as `E` (a mismatch is a
    /// `Runtime.DeserializationError` naming the JSON path) and the handler's `R` is
    /// serialized as JSON.
    pub fn serve<E, R, F>(self, mut handler: F) -> !
    where
        E: DeserializeOwned,
        R: Serialize,
        F: FnMut(E, &Context) -> Result<R, Error>,
    {
        self.serve_raw(move |event: Vec<u8>, context: &Context| {
            encode_response(&handler(decode_event(&event)?, context)?)
        })
    }

    /// Serves events as bytes (bytes in, bytes out), for payloads that are not JSON.
    pub fn serve_raw<F>(self, mut handler: F) -> !
    where
        F: FnMut(Vec<u8>, &Context) -> Result<Vec<u8>, Error>,
    {
        self.warn_one_at_a_time();
        exit(self.connection.serve(&mut handler))
    }

    /// Serves JSON events with a handler that writes its response to a [`ResponseStream`]:
    /// each write reaches the caller at once.
    pub fn serve_streaming<E, F>(self, mut handler: F) -> !
    where
        E: DeserializeOwned,
        F: FnMut(E, &Context, &mut ResponseStream) -> Result<(), Error>,
    {
        self.serve_streaming_raw(
            move |event: Vec<u8>, context: &Context, out: &mut ResponseStream| {
                handler(decode_event(&event)?, context, out)
            },
        )
    }

    /// Serves events as bytes with a streaming handler, which may instead answer any
    /// invocation buffered ([`ResponseStream::respond_buffered`]).
    pub fn serve_streaming_raw<F>(self, mut handler: F) -> !
    where
        F: FnMut(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error>,
    {
        self.warn_one_at_a_time();
        exit(self.connection.serve_streaming(&mut handler))
    }

    /// Says once that `AWS_LAMBDA_MAX_CONCURRENCY` asks for more than this mode serves.
    fn warn_one_at_a_time(&self) {
        if self.config.max_concurrency.get() > 1 {
            log::warn!(
                "AWS_LAMBDA_MAX_CONCURRENCY is {}, but this handler (FnMut) serves one \
                 invocation at a time; use `Runtime::concurrent()` with an `Fn + Sync` handler \
                 to serve them at once",
                self.config.max_concurrency
            );
        }
    }
}

impl Runtime<Concurrent> {
    /// How many invocations are served at once: `AWS_LAMBDA_MAX_CONCURRENCY`, 1 when unset.
    pub fn slots(&self) -> usize {
        usize::try_from(self.config.max_concurrency.get()).unwrap_or(1)
    }

    /// Serves JSON events as [`Runtime::<Sequential>::serve`] does, up to
    /// [`slots`](Self::slots) at once.
    pub fn serve<E, R, F>(self, handler: F) -> !
    where
        E: DeserializeOwned,
        R: Serialize,
        F: Fn(E, &Context) -> Result<R, Error> + Send + Sync + 'static,
    {
        self.serve_raw(move |event: Vec<u8>, context: &Context| {
            encode_response(&handler(decode_event(&event)?, context)?)
        })
    }

    /// Serves events as bytes, up to [`slots`](Self::slots) at once.
    pub fn serve_raw<F>(self, handler: F) -> !
    where
        F: Fn(Vec<u8>, &Context) -> Result<Vec<u8>, Error> + Send + Sync + 'static,
    {
        let slots = self.slots();
        exit(self.connection.serve_concurrent(slots, Arc::new(handler)))
    }

    /// Serves JSON events with a streaming handler, up to [`slots`](Self::slots) at once,
    /// each with its own [`ResponseStream`].
    pub fn serve_streaming<E, F>(self, handler: F) -> !
    where
        E: DeserializeOwned,
        F: Fn(E, &Context, &mut ResponseStream) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.serve_streaming_raw(
            move |event: Vec<u8>, context: &Context, out: &mut ResponseStream| {
                handler(decode_event(&event)?, context, out)
            },
        )
    }

    /// Serves events as bytes with a streaming handler, up to [`slots`](Self::slots) at once;
    /// the handler chooses per invocation whether to stream or to answer buffered
    /// ([`ResponseStream::respond_buffered`]). lamina's universal bootstrap is built on it.
    pub fn serve_streaming_raw<F>(self, handler: F) -> !
    where
        F: Fn(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error> + Send + Sync + 'static,
    {
        let slots = self.slots();
        exit(self.connection.serve_slots(
            slots,
            Arc::new(move |connection: &Connection| {
                connection.serve_streaming(
                    &mut |event, context: &Context, out: &mut ResponseStream| {
                        handler(event, context, out)
                    },
                )
            }),
        ))
    }
}

impl<Mode> Runtime<Mode> {
    /// The function's configuration, as read by [`Runtime::from_env`].
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs part of the init phase: `init` builds what the handler needs (clients, caches, the
    /// handler itself) and its value is returned. An `Err` is posted to `/runtime/init/error`
    /// with its chosen type, else `Runtime.InitError`; a panic as `Runtime.InitPanic`; either
    /// is then returned as [`StartError::Init`], and the process must exit (Lambda starts a
    /// fresh one).
    pub fn init<T>(&self, init: impl FnOnce(&Config) -> Result<T, Error>) -> Result<T, StartError> {
        self.connection.init(|| init(&self.config))
    }
}

#[cfg(feature = "tokio")]
mod with_tokio {
    //! The async forms: one current-thread tokio runtime, built once, shared by the async init
    //! and the handler.

    use std::future::Future;

    use super::*;
    use crate::AsyncResponseStream;
    use crate::asynchronous::current_thread_runtime;
    use crate::asynchronous_streaming::{on_handle, on_runtime};
    use crate::serve::FatalError;

    impl<Mode> Runtime<Mode> {
        /// The async [`init`](Runtime::init): `init`'s future runs on the current-thread tokio
        /// runtime the async handler will run on (built now, with every driver the program's
        /// tokio features enable), so clients it builds keep working in the handler.
        pub fn init_async<T, Fut>(
            &mut self,
            init: impl FnOnce(Config) -> Fut,
        ) -> Result<T, StartError>
        where
            Fut: Future<Output = Result<T, Error>>,
        {
            let tokio = match self.tokio.take() {
                Some(tokio) => tokio,
                None => self.connection.init(current_thread_runtime)?,
            };
            let config = self.config.clone();
            let value = self.connection.init(|| tokio.block_on(init(config)));
            self.tokio = Some(tokio);
            value
        }

        /// The tokio runtime built by `init_async`, or one built now (a failure to build it is
        /// an init error, which ends the process).
        fn take_tokio(&mut self) -> tokio::runtime::Runtime {
            match self.tokio.take() {
                Some(tokio) => tokio,
                None => self
                    .connection
                    .init(current_thread_runtime)
                    .unwrap_or_else(|error| error.exit()),
            }
        }
    }

    impl Runtime<Sequential> {
        /// Serves JSON events with an async handler. The handler gets its own copy of the
        /// [`Context`], so its future borrows nothing; each future runs to its end on the
        /// current-thread tokio runtime before the next event is taken.
        pub fn serve_async<E, R, F, Fut>(self, mut handler: F) -> !
        where
            E: DeserializeOwned,
            R: Serialize,
            F: FnMut(E, Context) -> Fut,
            Fut: Future<Output = Result<R, Error>>,
        {
            self.serve_async_raw(move |event: Vec<u8>, context: Context| {
                let future = decode_event(&event).map(|event: E| handler(event, context));
                async move { encode_response(&future?.await?) }
            })
        }

        /// Serves events as bytes with an async handler.
        pub fn serve_async_raw<F, Fut>(mut self, mut handler: F) -> !
        where
            F: FnMut(Vec<u8>, Context) -> Fut,
            Fut: Future<Output = Result<Vec<u8>, Error>>,
        {
            let tokio = self.take_tokio();
            self.serve_raw(move |event: Vec<u8>, context: &Context| {
                tokio.block_on(handler(event, context.clone()))
            })
        }

        /// Serves JSON events with an async streaming handler, which writes to the invocation's
        /// [`AsyncResponseStream`] (a `tokio::io::AsyncWrite`).
        pub fn serve_streaming_async<E, F, Fut>(mut self, handler: F) -> !
        where
            E: DeserializeOwned,
            F: FnMut(E, Context, AsyncResponseStream) -> Fut,
            Fut: Future<Output = Result<(), Error>>,
        {
            let tokio = self.take_tokio();
            self.serve_streaming_raw(on_runtime(tokio, handler))
        }
    }

    impl Runtime<Concurrent> {
        /// Serves JSON events with an async handler, up to [`slots`](Self::slots) at once.
        ///
        /// Each slot's thread runs its invocation's future itself (it need not be `Send`); one
        /// more thread drives the current-thread tokio runtime's I/O and timers for all of
        /// them, so clients built in [`init_async`](Runtime::init_async) work in every slot.
        pub fn serve_async<E, R, F, Fut>(self, handler: F) -> !
        where
            E: DeserializeOwned,
            R: Serialize,
            F: Fn(E, Context) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<R, Error>>,
        {
            self.serve_async_raw(move |event: Vec<u8>, context: Context| {
                let future = decode_event(&event).map(|event: E| handler(event, context));
                async move { encode_response(&future?.await?) }
            })
        }

        /// Serves events as bytes with an async handler, up to [`slots`](Self::slots) at once.
        pub fn serve_async_raw<F, Fut>(mut self, handler: F) -> !
        where
            F: Fn(Vec<u8>, Context) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Vec<u8>, Error>>,
        {
            let handle = self.drive_tokio();
            self.serve_raw(move |event: Vec<u8>, context: &Context| {
                handle.block_on(handler(event, context.clone()))
            })
        }

        /// Serves JSON events with an async streaming handler, up to [`slots`](Self::slots) at
        /// once, each with its own [`AsyncResponseStream`].
        pub fn serve_streaming_async<E, F, Fut>(mut self, handler: F) -> !
        where
            E: DeserializeOwned,
            F: Fn(E, Context, AsyncResponseStream) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), Error>>,
        {
            let handle = self.drive_tokio();
            self.serve_streaming_raw(on_handle(handle, handler))
        }

        /// Moves the tokio runtime to a thread of its own that drives its I/O and timers for
        /// the life of the process (`Handle::block_on` on a current-thread runtime drives
        /// nothing itself); the handle the slots run their futures with.
        fn drive_tokio(&mut self) -> tokio::runtime::Handle {
            let tokio = self.take_tokio();
            let handle = tokio.handle().clone();
            let driver = std::thread::Builder::new()
                .name("lamina-tokio".into())
                .spawn(move || tokio.block_on(std::future::pending::<()>()));
            if let Err(error) = driver {
                exit(FatalError::Slots {
                    slots: self.slots(),
                    message: format!("cannot start the tokio driver thread: {error}"),
                });
            }
            handle
        }
    }
}

/// Serves JSON events with `handler`, one at a time, until the runtime must stop, then exits
/// non-zero: the one-line form of `Runtime::from_env()?.serve(handler)`.
///
/// The event is deserialized as `E` (a mismatch is a `Runtime.DeserializationError` naming
/// the JSON path) and the result serialized as JSON. A configuration the runtime cannot start
/// with is reported as [`Runtime::from_env`] says, then the process exits
/// ([`StartError::exit`]).
pub fn run<E, R, F>(handler: F) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    F: FnMut(E, &Context) -> Result<R, Error>,
{
    match Runtime::from_env() {
        Ok(runtime) => runtime.serve(handler),
        Err(error) => error.exit(),
    }
}
