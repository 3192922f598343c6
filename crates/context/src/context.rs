//! One invocation, from the headers of the Runtime API's `GET /runtime/invocation/next` answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::header;

/// Deadlines below this many milliseconds (2001-09-09T01:46:40Z as an epoch time) are read as
/// *relative* to the moment the headers were received, not as epoch times.
///
/// AWS always sends epoch milliseconds. Some local emulators (cargo-lambda's) send the time
/// left, e.g. `600000`; read as an epoch time that is a deadline in January 1970, every
/// invocation would look long expired. No real epoch deadline is this small, so a value
/// below the threshold can only be a relative one.
pub const RELATIVE_DEADLINE_THRESHOLD_MS: u64 = 1_000_000_000_000;

/// A header of the `/next` answer that is missing or cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// A required header is absent.
    #[error("header {name} is missing")]
    Missing {
        /// Name of the header, as in [`header`].
        name: &'static str,
    },
    /// A header's value is not valid UTF-8.
    #[error("header {name} is not valid UTF-8")]
    NotUtf8 {
        /// Name of the header, as in [`header`].
        name: &'static str,
    },
    /// A header's value cannot be parsed.
    #[error("header {name} has invalid value {value:?}: {reason}")]
    Invalid {
        /// Name of the header, as in [`header`].
        name: &'static str,
        /// The value as received.
        value: String,
        /// What was expected instead.
        reason: String,
    },
}

/// One invocation: who asked, by when the answer is due, and tracing data.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// `Lambda-Runtime-Aws-Request-Id`. Non-empty, and made only of characters that can stand
    /// in a URL path unescaped (ASCII letters, digits, `-`, `_`, `.`, `~`, `:`), since the
    /// runtime answers at `/runtime/invocation/{request_id}/...`.
    pub request_id: String,
    /// When the invocation times out; see [`Context::deadline`].
    deadline: SystemTime,
    /// `Lambda-Runtime-Invoked-Function-Arn`; `None` when absent or empty.
    pub invoked_function_arn: Option<String>,
    /// `Lambda-Runtime-Trace-Id`; `None` when absent or empty.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context`, parsed as JSON; `None` when absent or empty.
    pub client_context: Option<serde_json::Value>,
    /// `Lambda-Runtime-Cognito-Identity`, parsed as JSON; `None` when absent or empty.
    pub identity: Option<serde_json::Value>,
    /// `Lambda-Runtime-Aws-Tenant-Id`; `None` when absent or empty.
    pub tenant_id: Option<String>,
    /// `Lambda-Runtime-Invocation-Id`, to echo on this invocation's answer; `None` when absent
    /// or empty (an older Runtime API: nothing is echoed). Made only of visible ASCII, since it
    /// is sent back as a header value.
    pub invocation_id: Option<String>,
}

impl Context {
    /// Parses the headers of a `/next` answer, given as (name, value bytes) pairs, names
    /// compared ignoring ASCII case. Values are trimmed of surrounding whitespace; an optional
    /// header that is empty counts as absent. When a header appears twice, the first wins.
    ///
    /// A relative deadline (see [`RELATIVE_DEADLINE_THRESHOLD_MS`]) is counted from now.
    pub fn from_headers<N, V>(
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, ContextError>
    where
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        Self::from_headers_at(headers, SystemTime::now())
    }

    /// Like [`Context::from_headers`], with `received_at` as the moment the headers arrived
    /// (the origin of a relative deadline). Deterministic, for tests.
    pub fn from_headers_at<N, V>(
        headers: impl IntoIterator<Item = (N, V)>,
        received_at: SystemTime,
    ) -> Result<Self, ContextError>
    where
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let headers: Vec<(N, V)> = headers.into_iter().collect();
        let find = |name: &'static str| -> Result<Option<&str>, ContextError> {
            let Some((_, raw)) = headers
                .iter()
                .find(|(found, _)| found.as_ref().trim().eq_ignore_ascii_case(name))
            else {
                return Ok(None);
            };
            let value = std::str::from_utf8(raw.as_ref())
                .map_err(|_| ContextError::NotUtf8 { name })?
                .trim();
            Ok(Some(value).filter(|value| !value.is_empty()))
        };
        let required = |name: &'static str| -> Result<&str, ContextError> {
            find(name)?.ok_or(ContextError::Missing { name })
        };
        let json = |name: &'static str| -> Result<Option<serde_json::Value>, ContextError> {
            find(name)?
                .map(|value| {
                    serde_json::from_str(value).map_err(|error| ContextError::Invalid {
                        name,
                        value: value.into(),
                        reason: format!("not JSON: {error}"),
                    })
                })
                .transpose()
        };

        let request_id = required(header::REQUEST_ID)?;
        if let Some(bad) = request_id.chars().find(|c| !is_path_safe(*c)) {
            return Err(ContextError::Invalid {
                name: header::REQUEST_ID,
                value: request_id.into(),
                reason: format!("character {bad:?} cannot stand in a URL path"),
            });
        }
        let deadline = parse_deadline(required(header::DEADLINE_MS)?, received_at)?;
        let invocation_id = find(header::INVOCATION_ID)?;
        if let Some(id) = invocation_id
            && let Some(bad) = id.chars().find(|c| !c.is_ascii_graphic())
        {
            return Err(ContextError::Invalid {
                name: header::INVOCATION_ID,
                value: id.into(),
                reason: format!("character {bad:?} cannot be sent back in a header"),
            });
        }
        Ok(Self {
            request_id: request_id.into(),
            deadline,
            invoked_function_arn: find(header::INVOKED_FUNCTION_ARN)?.map(Into::into),
            trace_id: find(header::TRACE_ID)?.map(Into::into),
            client_context: json(header::CLIENT_CONTEXT)?,
            identity: json(header::COGNITO_IDENTITY)?,
            tenant_id: find(header::TENANT_ID)?.map(Into::into),
            invocation_id: invocation_id.map(Into::into),
        })
    }

    /// A context for tests and tools: the given request id and deadline, nothing else.
    pub fn new(request_id: impl Into<String>, deadline: SystemTime) -> Self {
        Self {
            request_id: request_id.into(),
            deadline,
            invoked_function_arn: None,
            trace_id: None,
            client_context: None,
            identity: None,
            tenant_id: None,
            invocation_id: None,
        }
    }

    /// When the invocation times out: `Lambda-Runtime-Deadline-Ms` as an epoch time, or
    /// counted from receipt when it was a relative value.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// Time left before the deadline, as of now; zero once it has passed.
    pub fn remaining_time(&self) -> Duration {
        self.remaining_time_at(SystemTime::now())
    }

    /// Time left before the deadline, as of `now`; zero once it has passed.
    pub fn remaining_time_at(&self, now: SystemTime) -> Duration {
        self.deadline.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

fn is_path_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | ':')
}

fn parse_deadline(value: &str, received_at: SystemTime) -> Result<SystemTime, ContextError> {
    let invalid = |reason: &str| ContextError::Invalid {
        name: header::DEADLINE_MS,
        value: value.into(),
        reason: reason.into(),
    };
    let millis: u64 = value
        .parse()
        .map_err(|_| invalid("expected milliseconds since the Unix epoch, a whole number"))?;
    let (origin, offset) = if millis < RELATIVE_DEADLINE_THRESHOLD_MS {
        (received_at, millis)
    } else {
        (UNIX_EPOCH, millis)
    };
    origin
        .checked_add(Duration::from_millis(offset))
        .ok_or_else(|| invalid("too far in the future"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;
    use serde_json::json;

    const DEADLINE: u64 = 1_700_000_003_000;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    /// The headers AWS sends, as captured from a real `/next` answer (values made up).
    fn aws_headers() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("content-type", b"application/json".to_vec()),
            (
                "lambda-runtime-aws-request-id",
                b"8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_vec(),
            ),
            (
                "lambda-runtime-deadline-ms",
                DEADLINE.to_string().into_bytes(),
            ),
            (
                "lambda-runtime-invoked-function-arn",
                b"arn:aws:lambda:us-east-2:123456789012:function:custom-runtime".to_vec(),
            ),
            (
                "lambda-runtime-trace-id",
                b"Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
                    .to_vec(),
            ),
        ]
    }

    fn with(extra: &[(&'static str, &[u8])]) -> Vec<(&'static str, Vec<u8>)> {
        let mut headers = aws_headers();
        for (name, value) in extra {
            headers.retain(|(found, _)| !found.eq_ignore_ascii_case(name));
            headers.push((name, value.to_vec()));
        }
        headers
    }

    fn parse(headers: Vec<(&'static str, Vec<u8>)>) -> Result<Context, ContextError> {
        Context::from_headers_at(headers, at(DEADLINE - 3_000))
    }

    #[test]
    fn aws_headers_are_parsed() {
        let context = parse(aws_headers()).unwrap();
        assert_eq!(context.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(context.deadline(), at(DEADLINE));
        assert_eq!(
            context.invoked_function_arn.as_deref(),
            Some("arn:aws:lambda:us-east-2:123456789012:function:custom-runtime")
        );
        assert_eq!(
            context.trace_id.as_deref(),
            Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
        );
        assert_eq!(context.client_context, None);
        assert_eq!(context.identity, None);
        assert_eq!(context.tenant_id, None);
        assert_eq!(
            context.invocation_id, None,
            "an older Runtime API sends none"
        );
    }

    #[test]
    fn the_invocation_id_is_read_and_must_be_sendable_back() {
        let context = parse(with(&[(header::INVOCATION_ID, b" 7c1f-e2 ")])).unwrap();
        assert_eq!(context.invocation_id.as_deref(), Some("7c1f-e2"));
        assert_eq!(
            parse(with(&[(header::INVOCATION_ID, b"")]))
                .unwrap()
                .invocation_id,
            None
        );
        let error = parse(with(&[(header::INVOCATION_ID, b"a b")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "header Lambda-Runtime-Invocation-Id has invalid value \"a b\": \
             character ' ' cannot be sent back in a header"
        );
    }

    #[test]
    fn header_names_match_in_any_case() {
        let headers = vec![
            ("LAMBDA-RUNTIME-AWS-REQUEST-ID", b"abc".to_vec()),
            (
                "Lambda-Runtime-Deadline-Ms",
                DEADLINE.to_string().into_bytes(),
            ),
        ];
        let context = parse(headers).unwrap();
        assert_eq!(context.request_id, "abc");
    }

    #[test]
    fn json_headers_and_tenant_are_parsed() {
        let context = parse(with(&[
            (
                header::CLIENT_CONTEXT,
                br#"{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{}}"#,
            ),
            (
                header::COGNITO_IDENTITY,
                br#"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#,
            ),
            (header::TENANT_ID, b"tenant-42"),
        ]))
        .unwrap();
        assert_eq!(
            context.client_context,
            Some(json!({"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{}}))
        );
        assert_eq!(
            context.identity,
            Some(json!({"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}))
        );
        assert_eq!(context.tenant_id.as_deref(), Some("tenant-42"));
    }

    #[test]
    fn empty_optional_headers_are_absent() {
        let context = parse(with(&[
            (header::CLIENT_CONTEXT, b""),
            (header::COGNITO_IDENTITY, b"  "),
            (header::TENANT_ID, b""),
            (header::TRACE_ID, b""),
            (header::INVOKED_FUNCTION_ARN, b""),
        ]))
        .unwrap();
        assert_eq!(context.client_context, None);
        assert_eq!(context.identity, None);
        assert_eq!(context.tenant_id, None);
        assert_eq!(context.trace_id, None);
        assert_eq!(context.invoked_function_arn, None);
    }

    #[test]
    fn missing_required_headers_are_named() {
        for name in [header::REQUEST_ID, header::DEADLINE_MS] {
            let mut headers = aws_headers();
            headers.retain(|(found, _)| !found.eq_ignore_ascii_case(name));
            assert_eq!(parse(headers), Err(ContextError::Missing { name }));
            // An empty required header is as good as a missing one.
            assert_eq!(
                parse(with(&[(name, b"")])),
                Err(ContextError::Missing { name })
            );
        }
    }

    #[test]
    fn non_utf8_values_are_named() {
        for name in [
            header::REQUEST_ID,
            header::DEADLINE_MS,
            header::INVOKED_FUNCTION_ARN,
            header::TRACE_ID,
            header::CLIENT_CONTEXT,
            header::COGNITO_IDENTITY,
            header::TENANT_ID,
            header::INVOCATION_ID,
        ] {
            let error = parse(with(&[(name, b"\xff\xfe")])).unwrap_err();
            assert_eq!(error, ContextError::NotUtf8 { name });
            assert_eq!(
                error.to_string(),
                format!("header {name} is not valid UTF-8")
            );
        }
    }

    #[test]
    fn bad_deadlines_are_named() {
        for value in ["soon", "-5", "1.5e12", "18446744073709551616", "12 34"] {
            let error = parse(with(&[(header::DEADLINE_MS, value.as_bytes())])).unwrap_err();
            assert!(
                matches!(&error, ContextError::Invalid { name, value: found, .. }
                    if *name == header::DEADLINE_MS && found == value),
                "{value}: {error:?}"
            );
        }
        let error = parse(with(&[(header::DEADLINE_MS, b"soon")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "header Lambda-Runtime-Deadline-Ms has invalid value \"soon\": \
             expected milliseconds since the Unix epoch, a whole number"
        );
    }

    #[test]
    fn bad_json_is_named() {
        for name in [header::CLIENT_CONTEXT, header::COGNITO_IDENTITY] {
            let error = parse(with(&[(name, b"{not json")])).unwrap_err();
            match error {
                ContextError::Invalid {
                    name: named,
                    value,
                    reason,
                } => {
                    assert_eq!(named, name);
                    assert_eq!(value, "{not json");
                    assert!(reason.starts_with("not JSON: "), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn request_ids_that_would_break_the_url_are_refused() {
        for value in ["../../init/error", "a b", "id?x=1", "id#frag", "é"] {
            let error = parse(with(&[(header::REQUEST_ID, value.as_bytes())])).unwrap_err();
            assert!(
                matches!(&error, ContextError::Invalid { name, .. } if *name == header::REQUEST_ID),
                "{value}: {error:?}"
            );
        }
    }

    #[test]
    fn relative_deadline_from_cargo_lambda_counts_from_receipt() {
        let received = at(DEADLINE);
        let context = Context::from_headers_at(
            [
                (header::REQUEST_ID, &b"id"[..]),
                (header::DEADLINE_MS, &b"600000"[..]),
            ],
            received,
        )
        .unwrap();
        assert_eq!(context.deadline(), received + Duration::from_secs(600));
        assert_eq!(
            context.remaining_time_at(received),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn remaining_time_counts_down_and_stops_at_zero() {
        let context = parse(aws_headers()).unwrap();
        assert_eq!(
            context.remaining_time_at(at(DEADLINE - 1_500)),
            Duration::from_millis(1_500)
        );
        assert_eq!(context.remaining_time_at(at(DEADLINE)), Duration::ZERO);
        assert_eq!(context.remaining_time_at(at(DEADLINE + 10)), Duration::ZERO);
    }

    #[test]
    fn first_of_duplicate_headers_wins() {
        let mut headers = aws_headers();
        headers.push((header::REQUEST_ID, b"second".to_vec()));
        assert_eq!(
            parse(headers).unwrap().request_id,
            "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
        );
    }
}
