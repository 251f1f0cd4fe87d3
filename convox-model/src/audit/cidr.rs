//! CIDR containment, IPv4 and IPv6, for the one question the audit asks: is
//! every address a source admits inside the VPC's block?

use std::net::IpAddr;

/// A CIDR block: a network address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4(u32, u8),
    V6(u128, u8),
}

impl Cidr {
    /// Reads `a.b.c.d/n` or `x:y::/n`; a bare address is a /32 or /128.
    /// `None` for anything else (a security group as a source, a prefix list).
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s.trim(), None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => {
                let len = len.unwrap_or(32);
                (len <= 32).then(|| Cidr::V4(u32::from(a) & mask4(len), len))
            }
            IpAddr::V6(a) => {
                let len = len.unwrap_or(128);
                (len <= 128).then(|| Cidr::V6(u128::from(a) & mask6(len), len))
            }
        }
    }

    /// Whether every address of `inner` is in `self`. Families never contain
    /// each other: an IPv6 source is outside an IPv4 VPC block.
    pub(crate) fn contains(&self, inner: &Cidr) -> bool {
        match (*self, *inner) {
            (Cidr::V4(net, len), Cidr::V4(inet, ilen)) => ilen >= len && inet & mask4(len) == net,
            (Cidr::V6(net, len), Cidr::V6(inet, ilen)) => ilen >= len && inet & mask6(len) == net,
            _ => false,
        }
    }
}

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// Whether `source` (as an ingress rule spells it) admits only addresses inside
/// `vpc`. A source that is not a CIDR (another security group, a prefix list)
/// cannot be proven inside: `false`.
pub(crate) fn inside(vpc: &str, source: &str) -> bool {
    match (Cidr::parse(vpc), Cidr::parse(source)) {
        (Some(v), Some(s)) => v.contains(&s),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_is_by_prefix_not_by_text() {
        let vpc = "10.0.0.0/16";
        assert!(inside(vpc, "10.0.0.0/16"));
        assert!(inside(vpc, "10.0.12.0/24"));
        assert!(inside(vpc, "10.0.255.7/32"));
        assert!(inside(vpc, "10.0.255.7"));
        assert!(!inside(vpc, "10.0.0.0/15"), "wider than the VPC");
        assert!(!inside(vpc, "10.1.0.0/24"));
        assert!(!inside(vpc, "10.00.0.0/8"));
        assert!(!inside(vpc, "0.0.0.0/0"));
        assert!(!inside(vpc, "::/0"), "IPv6 is outside an IPv4 block");
        assert!(!inside(vpc, "(other source)"));
        assert!(!inside(vpc, "10.0.0.0/33"));
        // Host bits in the source are ignored, as AWS normalises them.
        assert!(inside(vpc, "10.0.3.9/24"));
    }

    #[test]
    fn ipv6_blocks_contain_their_subnets() {
        assert!(inside("2001:db8::/32", "2001:db8:1::/48"));
        assert!(!inside("2001:db8::/32", "::/0"));
        assert!(!inside("2001:db8::/32", "10.0.0.0/8"));
        assert!(inside("::/0", "2001:db8::1"));
    }
}
