//! Who the client is, by address: the socket peer, or, when the peer is one
//! of `trusted_proxies`, the address the proxy reports in `X-Forwarded-For`
//! (the right-most entry that is not itself a trusted proxy) or
//! `Forwarded`. Forwarding headers from anyone else are ignored, so a client
//! cannot choose its own address. IPv6 clients are grouped by /64 (one
//! household or host usually owns a whole /64). Server only.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use std::sync::Arc;

use crate::server::config::{Config, TrustedProxies};
use crate::server::error::AppError;

/// The client's address as rate limits and caps see it (IPv6 as its /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The rate-limiting key of `ip`: IPv4 as is, IPv6 cut to its /64.
pub fn group(ip: IpAddr) -> ClientIp {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            ClientIp(IpAddr::V6(Ipv6Addr::from(bits)))
        }
        v4 => ClientIp(v4),
    }
}

/// One `Forwarded` / `X-Forwarded-For` node: an address, maybe quoted, in
/// brackets or with a port. `None` for obfuscated or unknown nodes.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|inner| inner.parse().ok())
}

/// The `for=` addresses of every `Forwarded` header, in order.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut nodes = Vec::new();
    for value in headers.get_all("forwarded") {
        let text = value.to_str().ok()?;
        for element in text.split(',') {
            for pair in element.split(';') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                if key.trim().eq_ignore_ascii_case("for") {
                    nodes.push(parse_node(value));
                }
            }
        }
    }
    (!nodes.is_empty()).then_some(nodes)
}

/// The `X-Forwarded-For` addresses, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut nodes = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        nodes.extend(text.split(',').map(parse_node));
    }
    (!nodes.is_empty()).then_some(nodes)
}

/// The client address of a request that came from `peer` with `headers`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let Some(chain) = x_forwarded_for(headers).or_else(|| forwarded_for(headers)) else {
        return peer;
    };
    // Walk from the proxy nearest to us outwards; the first hop we do not
    // trust is the client. A garbled hop ends the walk at the last good one.
    let mut client = peer;
    for node in chain.iter().rev() {
        match node {
            Some(ip) => {
                client = canonical(*ip);
                if !trusted.contains(client) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// Middleware: records the request's [`ClientIp`] for the handlers.
pub async fn record(
    State(config): State<Arc<Config>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip = resolve(peer.ip(), request.headers(), &config.trusted_proxies);
        request.extensions_mut().insert(group(ip));
    }
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .ok_or_else(|| AppError::Internal("no client address on the request".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(text: &str) -> TrustedProxies {
        serde_json::from_value(serde_json::json!(text)).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn headers_from_untrusted_peers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(resolve(ip("9.9.9.9"), &h, &proxies("")), ip("9.9.9.9"));
        assert_eq!(
            resolve(ip("9.9.9.9"), &h, &proxies("10.0.0.0/8")),
            ip("9.9.9.9")
        );
    }

    #[test]
    fn trusted_peers_give_the_right_most_untrusted_hop() {
        let trusted = proxies("10.0.0.0/8,127.0.0.1");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.7")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &trusted), ip("1.2.3.4"));
        // A spoofed left-most entry does not matter.
        let h = headers(&[("x-forwarded-for", "garbage, 1.2.3.4")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted), ip("1.2.3.4"));
        // No header: the proxy itself.
        assert_eq!(
            resolve(ip("10.1.1.1"), &HeaderMap::new(), &trusted),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn forwarded_header_is_understood() {
        let trusted = proxies("127.0.0.1");
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
    }

    #[test]
    fn ipv6_groups_by_64_and_mapped_v4_is_v4() {
        assert_eq!(
            group(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            group(ip("2001:db8:1:2::1"))
        );
        assert_ne!(group(ip("2001:db8:1:2::1")), group(ip("2001:db8:1:3::1")));
        assert_eq!(group(ip("::ffff:1.2.3.4")), ClientIp(ip("1.2.3.4")));
        assert_eq!(
            group(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }
}
