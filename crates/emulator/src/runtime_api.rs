//! The Runtime API (`/2018-06-01/runtime/...`) of one instance, as a bootstrap sees it.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use lamina_context::header;

use crate::function::Function;
use crate::http::{self, Body, BodyError};

const PREFIX: &str = "/2018-06-01/runtime/";

/// Answers one Runtime API request from instance `instance_id` of `function`.
pub async fn handle(
    function: Arc<Function>,
    instance_id: u64,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return not_found(&path);
    };
    let segments: Vec<&str> = route.split('/').collect();
    let method = request.method().clone();
    match segments.as_slice() {
        ["invocation", "next"] => {
            if method != Method::GET {
                return method_not_allowed(&method, &path);
            }
            function.next_invocation(instance_id).await
        }
        ["invocation", request_id, kind @ ("response" | "error")] => {
            if method != Method::POST {
                return method_not_allowed(&method, &path);
            }
            let request_id = (*request_id).to_string();
            let kind = *kind;
            let error_type = http::header_text(request.headers(), header::FUNCTION_ERROR_TYPE)
                .map(str::to_string);
            let body = match http::read_body(request, crate::MAX_PAYLOAD_BYTES).await {
                Ok(body) => body,
                Err(BodyError::TooLarge) => {
                    return function.response_too_large(instance_id, &request_id);
                }
                Err(BodyError::Broken) => return broken_body(),
            };
            if kind == "response" {
                function.post_response(instance_id, &request_id, body)
            } else {
                function.post_error(instance_id, &request_id, error_type.as_deref(), &body)
            }
        }
        ["init", "error"] => {
            if method != Method::POST {
                return method_not_allowed(&method, &path);
            }
            let error_type = http::header_text(request.headers(), header::FUNCTION_ERROR_TYPE)
                .map(str::to_string);
            match http::read_body(request, crate::MAX_PAYLOAD_BYTES).await {
                Ok(body) => function.post_init_error(instance_id, error_type.as_deref(), &body),
                Err(BodyError::TooLarge) => http::runtime_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    &format!(
                        "Exceeded maximum allowed payload size ({} bytes).",
                        crate::MAX_PAYLOAD_BYTES
                    ),
                ),
                Err(BodyError::Broken) => broken_body(),
            }
        }
        _ => not_found(&path),
    }
}

fn not_found(path: &str) -> Response<Body> {
    http::runtime_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("No Runtime API route for {path}"),
    )
}

fn method_not_allowed(method: &Method, path: &str) -> Response<Body> {
    http::runtime_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("{method} is not allowed on {path}"),
    )
}

fn broken_body() -> Response<Body> {
    http::runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestBody",
        "The request body could not be read",
    )
}
