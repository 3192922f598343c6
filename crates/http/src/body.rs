//! The body of a request or response, and the rule for base64 on the wire.

/// An HTTP body: nothing, UTF-8 text, or bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A text body.
    Text(String),
    /// A binary body.
    Binary(Vec<u8>),
}

impl Body {
    /// The body's bytes (empty for [`Body::Empty`]).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Empty => &[],
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
        }
    }

    /// True when the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::Empty
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::Text(text)
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Self {
        Body::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Binary(bytes)
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Self {
        Body::Binary(bytes.to_vec())
    }
}

/// Whether a response with this `Content-Type` is sent as text (else base64).
///
/// Text: `text/*`, `application/json`, `application/xml`, `application/javascript`,
/// `application/x-www-form-urlencoded`, and any `+json` or `+xml` type. Parameters such as
/// `; charset=utf-8` are ignored and case does not matter. No content type at all counts as
/// text when the body is valid UTF-8.
pub fn is_text_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}
