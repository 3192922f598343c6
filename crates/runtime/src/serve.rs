//! Startup (configuration, logger, init) and the invocation loop.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use lamina_context::{Config, Context, env, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{Answer, Client};
use crate::endpoint::base_url;
use crate::error::{Error, ErrorBody, StartError, error_type};
pub(crate) use crate::error::{FatalError, exit};
use crate::logger::{LambdaLogger, set_request_id};

/// Largest response the runtime posts, in bytes: what AWS's own emulator accepts
/// (6 × 1024 × 1024 + 100). A larger response is reported as a
/// [`Runtime.ResponseTooLarge`](crate::error_type::RESPONSE_OVER_LIMIT) error instead.
pub const MAX_RESPONSE_BYTES: usize = lamina_context::facts::MAX_SYNC_RESPONSE_BYTES;

/// A handler on bytes, the form every public handler is turned into.
pub(crate) type RawHandler<'a> = dyn FnMut(Vec<u8>, &Context) -> Result<Vec<u8>, Error> + 'a;

/// How often and how patiently `/next` is retried when it cannot be reached or answers a
/// 5xx other than 500.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) retries: u32,
    pub(crate) first_delay: Duration,
}

/// 5 retries, 0.1 s doubling to 1.6 s: about 3 s in all. The Runtime API is local, so a
/// failure lasting longer than that will not heal.
pub(crate) const NEXT_RETRY: RetryPolicy = RetryPolicy {
    retries: 5,
    first_delay: Duration::from_millis(100),
};

/// A connected runtime: the client and how to retry.
pub(crate) struct Connection {
    pub(crate) client: Client,
    pub(crate) retry: RetryPolicy,
    /// Whether each invocation's trace id is exported as `_X_AMZN_TRACE_ID`: only when one
    /// invocation runs at a time, since the environment is the whole process's.
    pub(crate) export_trace: bool,
}

impl Connection {
    pub(crate) fn new(base_url: String, retry: RetryPolicy) -> Self {
        Self {
            client: Client::new(base_url),
            retry,
            export_trace: true,
        }
    }

    /// Reads the configuration, installs the logger and connects. A bad configuration is
    /// posted to `/runtime/init/error` whenever the Runtime API address itself is usable.
    pub(crate) fn start() -> Result<(Self, Config), StartError> {
        let config = match Config::from_env() {
            Ok(config) => config,
            Err(error) => {
                if let Some(base) = std::env::var(env::RUNTIME_API)
                    .ok()
                    .and_then(|value| base_url(&value).ok())
                {
                    Self::new(base, NEXT_RETRY)
                        .report_init_error(&ErrorBody::new(error_type::CONFIG, error.to_string()));
                }
                return Err(error.into());
            }
        };
        let base = base_url(&config.runtime_api)?;
        LambdaLogger::new(config.log_format, config.log_level).install();
        Ok((Self::new(base, NEXT_RETRY), config))
    }

    /// Runs `init`; a failure or panic is posted to `/runtime/init/error` and returned.
    pub(crate) fn init<H>(&self, init: impl FnOnce() -> Result<H, Error>) -> Result<H, StartError> {
        let body = match catch_unwind(AssertUnwindSafe(init)) {
            Ok(Ok(handler)) => return Ok(handler),
            Ok(Err(error)) => error.into_body(error_type::INIT),
            Err(panic) => ErrorBody::new(error_type::INIT_PANIC, panic_message(panic.as_ref())),
        };
        self.report_init_error(&body);
        Err(StartError::Init {
            error_type: body.error_type,
            message: body.error_message,
        })
    }

    fn report_init_error(&self, body: &ErrorBody) {
        let url = self.client.url("/runtime/init/error");
        match self.client.post_init_error(body) {
            Ok(answer) if (200..300).contains(&answer.status) => {}
            Ok(answer) => log::warn!(
                "POST {url} answered {}: {}",
                answer.status,
                answer.body_text()
            ),
            Err(error) => log::warn!("POST {url} failed: {error}"),
        }
    }

    /// The invocation loop. Returns only when the runtime must stop.
    pub(crate) fn serve(&self, handler: &mut RawHandler<'_>) -> FatalError {
        loop {
            let answer = match self.next_invocation() {
                Ok(answer) => answer,
                Err(fatal) => return fatal,
            };
            if let Err(fatal) = self.invoke(answer, handler) {
                return fatal;
            }
        }
    }

    pub(crate) fn next_invocation(&self) -> Result<Answer, FatalError> {
        let url = self.client.url("/runtime/invocation/next");
        let mut delay = self.retry.first_delay;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.client.next() {
                Ok(answer) if answer.status == 200 => return Ok(answer),
                Ok(answer) if answer.status == 500 => {
                    return Err(FatalError::ContainerError {
                        url,
                        body: answer.body_text(),
                    });
                }
                Ok(answer) if answer.status > 500 => {
                    format!("answered {}: {}", answer.status, answer.body_text())
                }
                Ok(answer) => {
                    return Err(FatalError::NextRejected {
                        url,
                        status: answer.status,
                        body: answer.body_text(),
                    });
                }
                Err(error) => error.to_string(),
            };
            if attempts > self.retry.retries {
                return Err(FatalError::NextUnavailable {
                    url,
                    attempts,
                    last: failure,
                });
            }
            log::warn!(
                "GET {url} failed ({failure}); retry {attempts} of {} in {delay:?}",
                self.retry.retries
            );
            std::thread::sleep(delay);
            delay = delay.saturating_mul(2);
        }
    }

    /// The invocation's context, or `None` when the `/next` headers are unusable (then the
    /// failure has been posted to `/error` when there is a request id to post to).
    pub(crate) fn context_of(&self, answer: &Answer) -> Result<Option<Context>, FatalError> {
        let headers = answer
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()));
        match Context::from_headers(headers) {
            Ok(context) => Ok(Some(context)),
            Err(error) => {
                log::error!("unusable /next answer: {error}");
                match usable_request_id(&answer.headers) {
                    Some(request_id) => self
                        .post(
                            &request_id,
                            usable_invocation_id(&answer.headers).as_deref(),
                            Err(ErrorBody::new(
                                error_type::INVALID_CONTEXT,
                                error.to_string(),
                            )),
                        )
                        .map(|()| None),
                    // Nowhere to answer: the invocation will time out on Lambda's side.
                    None => Ok(None),
                }
            }
        }
    }

    fn invoke(&self, answer: Answer, handler: &mut RawHandler<'_>) -> Result<(), FatalError> {
        let Some(context) = self.context_of(&answer)? else {
            return Ok(());
        };
        if self.export_trace {
            export_trace_id(context.trace_id.as_deref());
        }
        set_request_id(Some(&context.request_id));
        let outcome = match catch_unwind(AssertUnwindSafe(|| handler(answer.body, &context))) {
            Ok(Ok(response)) => within_limit(response),
            Ok(Err(error)) => Err(error.into_body(error_type::HANDLER)),
            Err(panic) => Err(ErrorBody::new(
                error_type::HANDLER_PANIC,
                panic_message(panic.as_ref()),
            )),
        };
        if let Err(body) = &outcome {
            log::error!("{}: {}", body.error_type, body.error_message);
        }
        let posted = self.post(
            &context.request_id,
            context.invocation_id.as_deref(),
            outcome,
        );
        set_request_id(None);
        if self.export_trace {
            export_trace_id(None);
        }
        posted
    }

    /// Posts a result, echoing the delivery's `invocation_id` when `/next` sent one. Only a
    /// 500 stops the runtime: a 4xx means this one answer was refused (400 wrong id, 403
    /// already answered, 410 too late, the invocation timed out, 413 too large), and the next
    /// event can still be served; a transport failure will show again on `/next`, which
    /// retries and decides.
    pub(crate) fn post(
        &self,
        request_id: &str,
        invocation_id: Option<&str>,
        outcome: Result<Vec<u8>, ErrorBody>,
    ) -> Result<(), FatalError> {
        let (path, answer) = match &outcome {
            Ok(response) => (
                format!("/runtime/invocation/{request_id}/response"),
                self.client
                    .post_response(request_id, invocation_id, response),
            ),
            Err(body) => (
                format!("/runtime/invocation/{request_id}/error"),
                self.client.post_error(request_id, invocation_id, body),
            ),
        };
        let url = self.client.url(&path);
        match answer {
            Ok(answer) if (200..300).contains(&answer.status) => Ok(()),
            Ok(answer) if answer.status == 500 => Err(FatalError::ContainerError {
                url: format!("POST {url}"),
                body: answer.body_text(),
            }),
            Ok(answer) => {
                log::warn!(
                    "POST {url} answered {}: {}; going on to the next event",
                    answer.status,
                    answer.body_text()
                );
                Ok(())
            }
            Err(error) => {
                log::warn!("POST {url} failed: {error}; going on to the next event");
                Ok(())
            }
        }
    }
}

/// A buffered response, or the `Runtime.ResponseTooLarge` error it is over
/// [`MAX_RESPONSE_BYTES`].
pub(crate) fn within_limit(response: Vec<u8>) -> Result<Vec<u8>, ErrorBody> {
    if response.len() > MAX_RESPONSE_BYTES {
        return Err(ErrorBody::new(
            error_type::RESPONSE_OVER_LIMIT,
            format!(
                "the response is {} bytes, over Lambda's limit of {MAX_RESPONSE_BYTES} bytes",
                response.len()
            ),
        ));
    }
    Ok(response)
}

/// The request id of a `/next` answer whose other headers are malformed, if it can be
/// answered at (same rules as [`Context::request_id`]).
fn usable_request_id(headers: &[(String, Vec<u8>)]) -> Option<String> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(header::REQUEST_ID))?;
    let value = std::str::from_utf8(value).ok()?.trim();
    let usable = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | ':'));
    usable.then(|| value.to_string())
}

/// The invocation id of a `/next` answer whose other headers are malformed, if it can be
/// echoed (same rules as [`Context::invocation_id`]).
fn usable_invocation_id(headers: &[(String, Vec<u8>)]) -> Option<String> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(header::INVOCATION_ID))?;
    let value = std::str::from_utf8(value).ok()?.trim();
    let usable = !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic());
    usable.then(|| value.to_string())
}

/// Exports the invocation's trace id as `_X_AMZN_TRACE_ID` (X-Ray SDKs read it there), or
/// removes it between invocations.
pub(crate) fn export_trace_id(trace_id: Option<&str>) {
    // SAFETY: `set_var`/`remove_var` are unsafe in edition 2024 because another thread reading
    // the environment at the same moment is a data race in libc. The runtime serves one
    // invocation at a time and calls this from the loop's thread only, before the handler
    // starts and after it returned, when the runtime itself runs no other thread. A handler
    // that leaves threads running between invocations and reads the environment from them
    // could race; every sequential Lambda runtime (AWS's included) shares that contract,
    // since `_X_AMZN_TRACE_ID` is defined as a process environment variable.
    unsafe {
        match trace_id {
            Some(trace_id) => std::env::set_var(env::TRACE_ID, trace_id),
            None => std::env::remove_var(env::TRACE_ID),
        }
    }
}

/// The message of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "the handler panicked with a non-string payload".into()
    }
}

/// Reads an event as `E`; a mismatch is a [`error_type::DESERIALIZATION`] error naming the
/// JSON path at fault.
pub(crate) fn decode_event<E: DeserializeOwned>(event: &[u8]) -> Result<E, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(event);
    let describe = |error: &serde_json::Error, path: Option<String>| match path {
        _ if error.is_syntax() || error.is_eof() => format!("the event is not valid JSON: {error}"),
        Some(path) => format!("the event does not match the handler's type at {path}: {error}"),
        None => format!("the event does not match the handler's type: {error}"),
    };
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        Error::new(
            error_type::DESERIALIZATION,
            describe(error.inner(), Some(format!("`{path}`"))),
        )
    })?;
    deserializer
        .end()
        .map_err(|error| Error::new(error_type::DESERIALIZATION, describe(&error, None)))?;
    Ok(value)
}

/// Writes a response as JSON; a failure is a [`error_type::SERIALIZATION`] error.
pub(crate) fn encode_response<R: Serialize>(response: &R) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(response).map_err(|error| {
        Error::new(
            error_type::SERIALIZATION,
            format!("the handler's response cannot be written as JSON: {error}"),
        )
    })
}
