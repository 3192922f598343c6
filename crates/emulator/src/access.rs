//! Which `Host`s and `Origin`s the Invoke API and the front door answer (DNS rebinding and
//! cross-origin posts refused): shared by both, so its own module.

use hyper::{Response, StatusCode};

use crate::http::{self, Body};

/// Which `Host`s and browser `Origin`s the emulator answers, so that a web page the user
/// visits cannot invoke local functions: neither through DNS rebinding (its own name resolving
/// to 127.0.0.1 makes the browser send `Host: attacker.example`) nor by posting across origins
/// (the browser sends the page's `Origin`).
///
/// Answered: a request without `Host` (no browser sends one); `Host` `localhost`,
/// `127.0.0.1`, `[::1]` or an address the emulator listens on, with any port, or one of the
/// allowed hosts; on the Invoke API, a request without `Origin` (AWS's CLIs and SDKs send none)
/// or with the origin of the emulator's own front door (a page a function serves there) or
/// one of the allowed origins. `*` allows any.
pub(crate) struct Access {
    hosts: Vec<String>,
    extra_origins: Vec<String>,
    /// The addresses (as hosts) and ports the emulator listens on: a page served from one of
    /// the ports is its own.
    listening: std::sync::RwLock<(Vec<String>, Vec<u16>)>,
}

/// Names that always mean this machine.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl Access {
    /// Answers the loopback names plus `hosts` and the front door's origins plus `origins`.
    pub(crate) fn new(hosts: &[String], origins: &[String]) -> Self {
        let mut all: Vec<String> = LOOPBACK_HOSTS.iter().map(|h| (*h).to_string()).collect();
        all.extend(hosts.iter().map(|host| host_name(host)));
        Access {
            hosts: all,
            extra_origins: origins.iter().map(|o| normalise_origin(o)).collect(),
            listening: std::sync::RwLock::new((Vec::new(), Vec::new())),
        }
    }

    /// Also answers `addr`'s address as a host (the emulator may listen elsewhere than on
    /// loopback), and pages served from its port as the emulator's own.
    pub(crate) fn listening_on(&self, addr: std::net::SocketAddr) {
        let host = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let mut listening = self
            .listening
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        listening.0.push(host);
        listening.1.push(addr.port());
    }

    /// The refusal for `request`'s `Host` (and, when `check_origin`, its `Origin`), or
    /// `None` when it may be answered. Every value counts: a request naming a second `Host` or
    /// `Origin` is answered only when each is allowed.
    pub(crate) fn refusal(
        &self,
        headers: &hyper::HeaderMap,
        check_origin: bool,
    ) -> Option<Response<Body>> {
        for host in headers.get_all(hyper::header::HOST) {
            let text = String::from_utf8_lossy(host.as_bytes());
            let name = host_name(&text);
            let listening = self
                .listening
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let allowed = self
                .hosts
                .iter()
                .chain(listening.0.iter())
                .any(|allowed| allowed == "*" || *allowed == name);
            drop(listening);
            if !allowed {
                return Some(http::service_error(
                    StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    &format!(
                        "The local Lambda does not answer Host {text:?}: only localhost, \
                         127.0.0.1 and [::1] (a web page could otherwise reach local functions \
                         by DNS rebinding). To allow it: cargo lamina serve --allow-host {name} \
                         (EmulatorConfig::allowed_hosts)."
                    ),
                ));
            }
        }
        for origin in headers
            .get_all(hyper::header::ORIGIN)
            .iter()
            .filter(|_| check_origin)
        {
            let text = String::from_utf8_lossy(origin.as_bytes());
            let origin = normalise_origin(&text);
            if !self.origin_allowed(&origin) {
                return Some(http::service_error(
                    StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    &format!(
                        "The local Lambda's Invoke API does not answer requests from web pages \
                         at Origin {text:?}: only the emulator's own front door (a page could \
                         otherwise invoke local functions). To allow it: cargo lamina serve \
                         --allow-origin {origin} (EmulatorConfig::allowed_origins)."
                    ),
                ));
            }
        }
        None
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.extra_origins.iter().any(|o| o == "*" || o == origin) {
            return true;
        }
        let Some(rest) = origin.strip_prefix("http://") else {
            return false;
        };
        let listening = self
            .listening
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (addresses, ports) = &*listening;
        LOOPBACK_HOSTS
            .iter()
            .copied()
            .chain(addresses.iter().map(String::as_str))
            .any(|name| ports.iter().any(|port| rest == format!("{name}:{port}")))
    }
}

/// A `Host` value's name: lowercased, without its port or a trailing dot.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        // An IPv6 literal: `[::1]:9000`.
        host.split_inclusive(']')
            .next()
            .unwrap_or(&host)
            .to_string()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
            _ => host.clone(),
        }
    };
    name.strip_suffix('.').map(str::to_string).unwrap_or(name)
}

/// An origin as browsers send it: lowercased, without a trailing slash.
fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}
