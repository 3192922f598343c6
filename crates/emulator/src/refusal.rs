//! A request the emulator's front doors refuse, in AWS's shape: the status, AWS's error type
//! and message. Pure: shared by the Invoke API, the tenant check and the front door.

use hyper::{Response, StatusCode};

use crate::http::{self, Body};

/// An Invoke API request the emulator refuses: the status, AWS's error type and message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) error_type: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Refusal {
            status,
            error_type,
            message: message.into(),
        }
    }

    pub(crate) fn bad_parameter(message: impl Into<String>) -> Self {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    pub(crate) fn bad_content(message: impl Into<String>) -> Self {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            message,
        )
    }

    /// AWS's message.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        http::service_error(self.status, self.error_type, &self.message)
    }
}
