//! Which resolved addresses a skill may reach unless its grant names the
//! address itself (an IP literal or localhost): only
//! public unicast ones. Loopback, private, link-local (cloud metadata),
//! unspecified, shared, multicast and reserved ranges are refused, including
//! when hidden in IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 forms;
//! IPv6 ranges that only a local translator or network gives meaning to
//! (local-use NAT64, SIIT-translated, discard, IETF protocol assignments such
//! as Teredo, documentation, unique-local, link- and site-local, multicast)
//! are refused outright.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not public, or `None` if it is.
///
/// ```
/// use chitin_sandbox::capabilities::net::ip::non_public_reason;
///
/// assert_eq!(non_public_reason("8.8.8.8".parse().unwrap()), None);
/// assert!(non_public_reason("169.254.169.254".parse().unwrap()).is_some());
/// // An IPv4-mapped IPv6 loopback is still loopback.
/// assert!(non_public_reason("::ffff:127.0.0.1".parse().unwrap()).is_some());
/// ```
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified/this-network address")
    } else if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_private() {
        Some("private address")
    } else if ip.is_link_local() {
        Some("link-local address (cloud metadata lives here)")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("shared (carrier-grade NAT) address")
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some("multicast, broadcast or reserved address")
    } else if (o[0] == 192 && o[1] == 0 && o[2] == 0) || (o[0] == 198 && (o[1] & 0xfe) == 18) {
        Some("special-purpose address")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4).or(None);
    }
    if ip.is_unspecified() {
        return Some("unspecified address");
    }
    if ip.is_loopback() {
        return Some("loopback address");
    }
    // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
    // embed an IPv4 address that may be internal.
    let embedded =
        if s[0..6] == [0, 0, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) {
            Some(Ipv4Addr::new(
                (s[6] >> 8) as u8,
                s[6] as u8,
                (s[7] >> 8) as u8,
                s[7] as u8,
            ))
        } else if s[0] == 0x2002 {
            Some(Ipv4Addr::new(
                (s[1] >> 8) as u8,
                s[1] as u8,
                (s[2] >> 8) as u8,
                s[2] as u8,
            ))
        } else {
            None
        };
    if let Some(v4) = embedded
        && let Some(r) = v4_reason(v4)
    {
        return Some(r);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        // 64:ff9b:1::/48 (RFC 8215): a local translator decides where it goes.
        Some("local-use NAT64 address")
    } else if s[0..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        // ::ffff:0:0:0/96 (RFC 2765 SIIT): IPv4-translated, meaningful only to a translator.
        Some("IPv4-translated (SIIT) address")
    } else if s[0] == 0x100 && s[1..4] == [0, 0, 0] {
        Some("discard-only address")
    } else if s[0] == 0x2001 && s[1] < 0x200 {
        // 2001::/23: Teredo, benchmarking, ORCHID and other protocol assignments.
        Some("IETF protocol-assignment address (Teredo, benchmarking ...)")
    } else if s[0] == 0x3fff && s[1] < 0x1000 {
        Some("documentation address")
    } else if s[0] == 0x5f00 {
        Some("segment-routing address")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("unique-local (private) address")
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        Some("link-local address")
    } else if (s[0] & 0xff00) == 0xff00 {
        Some("multicast address")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("documentation address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let table = [
            ("127.0.0.1", false),
            ("127.255.1.2", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("0.0.0.0", false),
            ("100.64.0.1", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("::1", false),
            ("::", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::127.0.0.1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("2002:7f00:1::", false),
            ("fd00::1", false),
            ("fe80::1", false),
            ("ff02::1", false),
            ("64:ff9b:1::a00:1", false),
            ("64:ff9b:1:ffff::808:808", false),
            ("::ffff:0:7f00:1", false),
            ("::ffff:0:808:808", false),
            ("100::1", false),
            ("2001::1", false),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
            ("2001:2::1", false),
            ("3fff::1", false),
            ("5f00::1", false),
            ("64:ff9b::808:808", true),
            ("2001:4860:4860::8888", true),
            ("8.8.8.8", true),
            ("140.82.112.6", true),
            ("2606:4700::1111", true),
            ("::ffff:8.8.8.8", true),
        ];
        for (ip, public) in table {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(non_public_reason(addr).is_none(), public, "{ip}");
        }
    }
}
