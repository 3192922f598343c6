//! Turning `AWS_LAMBDA_RUNTIME_API` into the base URL of the Runtime API.

use std::net::Ipv6Addr;

/// Version prefix of every Runtime API path.
const API_VERSION: &str = "2018-06-01";

/// Why a value of `AWS_LAMBDA_RUNTIME_API` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "AWS_LAMBDA_RUNTIME_API has unusable value {value:?}: {reason} \
     (expected host:port, e.g. 127.0.0.1:9001, optionally with http:// and a path prefix)"
)]
pub struct EndpointError {
    /// The value as found.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The base URL (`http://host:port[/prefix]/2018-06-01`) for `value`, which may be any form
/// AWS and local emulators give: `host:port`, `http://host:port`, either with a path prefix
/// (`127.0.0.1:9001/some/prefix`), or an IPv6 literal (`[::1]:9001`). The port is required
/// without a scheme (AWS always sends one) and defaults to 80 with `http://`. `https://` is
/// refused: the Runtime API is plain HTTP on a local address, and this client has no TLS.
pub(crate) fn base_url(value: &str) -> Result<String, EndpointError> {
    let error = |reason: &str| EndpointError {
        value: value.into(),
        reason: reason.into(),
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(error("it is empty"));
    }
    let (has_scheme, rest) = match trimmed.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (true, rest),
        Some((scheme, _)) => {
            return Err(error(&format!(
                "scheme {scheme:?} is not supported, only http"
            )));
        }
        None => (false, trimmed),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let path = path.trim_end_matches('/');
    if let Some(bad) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~' | '%')))
    {
        return Err(error(&format!(
            "character {bad:?} is not allowed in the path"
        )));
    }

    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or_else(|| error("IPv6 address without a closing ]"))?;
        address
            .parse::<Ipv6Addr>()
            .map_err(|_| error(&format!("{address:?} is not an IPv6 address")))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| error("expected :port after the IPv6 address"))?,
            ),
        };
        (&authority[..address.len() + 2], port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.contains(':') {
            return Err(error(
                "an IPv6 address must be in brackets, e.g. [::1]:9001",
            ));
        }
        if host.is_empty() {
            return Err(error("the host is empty"));
        }
        if let Some(bad) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(error(&format!(
                "character {bad:?} is not allowed in a host name"
            )));
        }
        (host, port)
    };
    let port: u16 = match port {
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(error(&format!("{port:?} is not a port number"))),
        },
        None if has_scheme => 80,
        None => return Err(error("the port is missing")),
    };
    Ok(format!("http://{host}:{port}{path}/{API_VERSION}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_form_lambda_and_emulators_give() {
        let cases = [
            ("127.0.0.1:9001", "http://127.0.0.1:9001/2018-06-01"),
            ("localhost:9001", "http://localhost:9001/2018-06-01"),
            ("http://127.0.0.1:9001", "http://127.0.0.1:9001/2018-06-01"),
            ("HTTP://127.0.0.1:9001/", "http://127.0.0.1:9001/2018-06-01"),
            ("http://localhost", "http://localhost:80/2018-06-01"),
            (
                "127.0.0.1:9001/some/prefix",
                "http://127.0.0.1:9001/some/prefix/2018-06-01",
            ),
            (
                "http://127.0.0.1:9001/some/prefix/",
                "http://127.0.0.1:9001/some/prefix/2018-06-01",
            ),
            ("[::1]:9001", "http://[::1]:9001/2018-06-01"),
            ("http://[::1]:9001/p", "http://[::1]:9001/p/2018-06-01"),
            (
                " 169.254.100.1:9001\n",
                "http://169.254.100.1:9001/2018-06-01",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(base_url(value).unwrap(), expected, "{value}");
        }
    }

    #[test]
    fn anything_else_is_an_error_quoting_the_value() {
        let cases = [
            ("", "it is empty"),
            ("127.0.0.1", "the port is missing"),
            ("127.0.0.1:", "\"\" is not a port number"),
            ("127.0.0.1:0", "\"0\" is not a port number"),
            ("127.0.0.1:70000", "\"70000\" is not a port number"),
            ("127.0.0.1:http", "\"http\" is not a port number"),
            (
                "https://127.0.0.1:9001",
                "scheme \"https\" is not supported, only http",
            ),
            (
                "::1:9001",
                "an IPv6 address must be in brackets, e.g. [::1]:9001",
            ),
            ("[::1:9001", "IPv6 address without a closing ]"),
            ("[nope]:9001", "\"nope\" is not an IPv6 address"),
            ("[::1]9001", "expected :port after the IPv6 address"),
            (":9001", "the host is empty"),
            (
                "user@host:9001",
                "character '@' is not allowed in a host name",
            ),
            ("host:9001/a?b", "character '?' is not allowed in the path"),
            (
                "host name:9001",
                "character ' ' is not allowed in a host name",
            ),
        ];
        for (value, reason) in cases {
            let error = base_url(value).unwrap_err();
            assert_eq!(error.reason, reason, "{value}");
            assert!(error.to_string().contains(&format!("{value:?}")), "{error}");
        }
    }
}
