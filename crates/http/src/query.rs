//! The decoded query string of a request.

/// The decoded query string of a request, kept in its extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParameters(pub Vec<(String, String)>);

impl QueryParameters {
    /// Parses a raw query string (`a=1&b=x%20y`).
    pub fn parse(query: &str) -> Self {
        QueryParameters(
            form_urlencoded::parse(query.as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The pairs in order.
    pub fn iter(&self) -> std::slice::Iter<'_, (String, String)> {
        self.0.iter()
    }
}
