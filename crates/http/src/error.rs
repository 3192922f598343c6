//! Why an event could not become an HTTP request.

/// Why an event could not become an HTTP request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The event is not JSON.
    #[error("the event is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The event is JSON but none of the HTTP kinds.
    #[error(
        "the event is not an HTTP event: expected an API Gateway REST (v1) event (`httpMethod` and \
         `requestContext`), an HTTP API / Function URL event (`version` \"2.0\" and \
         `requestContext.http`) or an ALB event (`requestContext.elb`); got keys: {keys}"
    )]
    NotHttp {
        /// The event's top-level keys (or its JSON type).
        keys: String,
    },
    /// The event looks like `kind` but a field does not fit.
    #[error("malformed {kind} event: {source}")]
    Malformed {
        /// The kind detected.
        kind: &'static str,
        /// What did not fit.
        #[source]
        source: serde_json::Error,
    },
    /// `isBase64Encoded` was true but the body is not base64.
    #[error("the event's body is marked isBase64Encoded but is not base64: {0}")]
    Base64(#[source] base64::DecodeError),
    /// The path and query do not make a URI.
    #[error("the event's path and query do not make a valid URI {uri:?}: {source}")]
    Uri {
        /// The URI built.
        uri: String,
        /// Why it is invalid.
        #[source]
        source: http::Error,
    },
    /// A header value is not valid in HTTP.
    #[error("the event's {name} header is not a valid HTTP header value")]
    Header {
        /// The header's name.
        name: String,
    },
}
