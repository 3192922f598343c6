//! The blocking Runtime API client: one `ureq` agent, so one keep-alive connection.

use lamina_context::header;

use crate::error::ErrorBody;

/// Largest `/next` body read. Lambda's payload limit is 6 MB; this leaves room for any
/// emulator's slack while bounding memory if something sends garbage.
const MAX_EVENT_BYTES: u64 = 64 * 1024 * 1024;

/// An HTTP answer from the Runtime API.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as text for messages, cut to a readable length.
    pub(crate) fn body_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(500) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.to_string(),
        }
    }
}

/// Talks to `base` (`http://host:port[/prefix]/2018-06-01`).
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    pub(crate) fn new(base: String) -> Self {
        let agent = ureq::Agent::config_builder()
            // Every status is an answer the loop decides about, not a transport error.
            .http_status_as_error(false)
            // `/next` is a long poll that may wait for minutes: AWS requires no timeout.
            .timeout_global(None)
            .max_idle_connections(1)
            .max_idle_connections_per_host(1)
            .user_agent(concat!("lamina-runtime/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self { agent, base }
    }

    /// The base URL (`http://host:port[/prefix]/2018-06-01`).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The full URL of `path` (which starts with `/`), for requests and messages.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /runtime/invocation/next`.
    pub(crate) fn next(&self) -> Result<Answer, ureq::Error> {
        let response = self
            .agent
            .get(self.url("/runtime/invocation/next"))
            .call()?;
        read(response)
    }

    /// `POST /runtime/invocation/{id}/response`, echoing the delivery's `invocation_id`
    /// (`Lambda-Runtime-Invocation-Id`) when `/next` sent one.
    pub(crate) fn post_response(
        &self,
        request_id: &str,
        invocation_id: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, ureq::Error> {
        let path = format!("/runtime/invocation/{request_id}/response");
        let mut request = self.agent.post(self.url(&path));
        if let Some(id) = invocation_id {
            request = request.header(header::INVOCATION_ID, id);
        }
        read(request.send(body)?)
    }

    /// `POST /runtime/invocation/{id}/error`, echoing `invocation_id` likewise.
    pub(crate) fn post_error(
        &self,
        request_id: &str,
        invocation_id: Option<&str>,
        error: &ErrorBody,
    ) -> Result<Answer, ureq::Error> {
        self.post_error_to(
            &format!("/runtime/invocation/{request_id}/error"),
            invocation_id,
            error,
        )
    }

    /// `POST /runtime/init/error`.
    pub(crate) fn post_init_error(&self, error: &ErrorBody) -> Result<Answer, ureq::Error> {
        self.post_error_to("/runtime/init/error", None, error)
    }

    fn post_error_to(
        &self,
        path: &str,
        invocation_id: Option<&str>,
        error: &ErrorBody,
    ) -> Result<Answer, ureq::Error> {
        let mut request = self.agent.post(self.url(path));
        if let Some(id) = invocation_id {
            request = request.header(header::INVOCATION_ID, id);
        }
        let response = request
            .header(header::FUNCTION_ERROR_TYPE, &error.error_type)
            .header("Content-Type", "application/json")
            .send(&error.to_json()[..])?;
        read(response)
    }
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Result<Answer, ureq::Error> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_EVENT_BYTES)
        .read_to_vec()?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}
