//! Where a request came from when the hub sits behind a proxy. The proxy's address is the
//! connection's; the client's is in `Forwarded` (RFC 7239) or `X-Forwarded-For`, which anyone
//! can write, so they are believed only as far as trusted proxies wrote them: walking from the
//! connection back towards the client, each hop is taken while the address before it is a
//! trusted proxy, and the first untrusted address is the client.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address or a network of trusted proxies: `10.0.0.7`, `10.0.0.0/8`, `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(pub IpNet);

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(ProxyNet)
            .map_err(|_| format!("`{text}` is not an address or a network (10.0.0.0/8)"))
    }
}

impl<'de> Deserialize<'de> for ProxyNet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for ProxyNet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

/// Whether `ip` is one of the trusted proxies.
pub fn is_trusted(ip: IpAddr, trusted: &[ProxyNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.0.contains(&ip))
}

/// The client's address for a request that arrived from `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[ProxyNet]) -> IpAddr {
    let mut client = canonical(peer);
    if !is_trusted(client, trusted) {
        return client;
    }
    for hop in hops(headers).into_iter().rev() {
        match hop {
            Some(ip) if is_trusted(client, trusted) => client = canonical(ip),
            _ => break,
        }
    }
    client
}

/// The forwarded chain, client first: `Forwarded`'s `for=` values when that header is present,
/// else `X-Forwarded-For`'s. `None` for a hop that names no address (`unknown`, an
/// obfuscated identifier, garbage): the walk stops there.
fn hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `"192.0.2.1:4711"`, `"[2001:db8::1]:4711"`,
/// `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    node.rsplit_once(':')
        .and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:10.0.0.1`) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    type Header = (&'static str, &'static str);

    fn headers(pairs: &[Header]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn forwarded_addresses_count_only_as_far_as_trusted_proxies_wrote_them() {
        let proxies = nets(&["10.0.0.0/8", "::1"]);
        // What, the connection's address, the headers, the client address taken.
        type Case = (&'static str, &'static str, Vec<Header>, &'static str);
        let cases: Vec<Case> = vec![
            (
                "no proxy",
                "198.51.100.9",
                vec![("x-forwarded-for", "203.0.113.5")],
                "198.51.100.9",
            ),
            (
                "one trusted proxy",
                "10.0.0.2",
                vec![("x-forwarded-for", "203.0.113.5")],
                "203.0.113.5",
            ),
            (
                "a forged hop before the real client",
                "10.0.0.2",
                vec![("x-forwarded-for", "192.0.2.66, 203.0.113.5")],
                "203.0.113.5",
            ),
            (
                "two trusted proxies",
                "10.0.0.2",
                vec![("x-forwarded-for", "203.0.113.5, 10.1.1.1")],
                "203.0.113.5",
            ),
            (
                "repeated headers",
                "10.0.0.2",
                vec![
                    ("x-forwarded-for", "203.0.113.5"),
                    ("x-forwarded-for", "10.1.1.1"),
                ],
                "203.0.113.5",
            ),
            (
                "Forwarded wins, with a port and IPv6",
                "::1",
                vec![
                    (
                        "forwarded",
                        "for=\"[2001:db8::7]:4711\";proto=https, for=10.2.2.2",
                    ),
                    ("x-forwarded-for", "192.0.2.66"),
                ],
                "2001:db8::7",
            ),
            (
                "an obfuscated hop stops the walk",
                "10.0.0.2",
                vec![("forwarded", "for=_hidden, for=10.3.3.3")],
                "10.3.3.3",
            ),
            ("no header", "10.0.0.2", vec![], "10.0.0.2"),
            (
                "an IPv4-mapped peer",
                "::ffff:10.0.0.2",
                vec![("x-forwarded-for", "203.0.113.5:999")],
                "203.0.113.5",
            ),
        ];
        for (what, peer, pairs, expected) in cases {
            assert_eq!(
                client_address(ip(peer), &headers(&pairs), &proxies),
                ip(expected),
                "{what}"
            );
        }
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &headers(&[("x-forwarded-for", "203.0.113.5")]),
                &[]
            ),
            ip("10.0.0.2"),
            "nobody trusted"
        );
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        assert!("10.0.0.7".parse::<ProxyNet>().is_ok());
        assert!("10.0.0.0/8".parse::<ProxyNet>().is_ok());
        assert!("fd00::/8".parse::<ProxyNet>().is_ok());
        assert!("proxy.internal".parse::<ProxyNet>().is_err());
    }
}
