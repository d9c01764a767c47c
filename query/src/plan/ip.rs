//! `ip("...")` line filters: address patterns and a DataFusion UDF that finds matching
//! addresses inside log lines.

use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

use super::line_udf::{LineTest, LineTestUdf};

/// An address pattern: one address, an inclusive range `a-b`, or a CIDR `a/n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpPattern {
    /// Exactly this address.
    Single(IpAddr),
    /// Every address between the two, inclusive (same family).
    Range(IpAddr, IpAddr),
    /// Every address in the network.
    Cidr(IpAddr, u8),
}

impl IpPattern {
    /// Parses `192.168.0.1`, `10.0.0.1-10.0.0.20` or `192.168.0.0/24` (IPv4 or IPv6).
    pub fn parse(s: &str) -> Result<IpPattern, String> {
        let s = s.trim();
        let bad = || format!("invalid ip pattern {s:?}: expected an address, a range a-b or a CIDR");
        if let Some((net, bits)) = s.split_once('/') {
            let addr: IpAddr = net.trim().parse().map_err(|_| bad())?;
            let bits: u8 = bits.trim().parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            return Ok(IpPattern::Cidr(addr, bits));
        }
        if let Some((a, b)) = s.split_once('-') {
            let a: IpAddr = a.trim().parse().map_err(|_| bad())?;
            let b: IpAddr = b.trim().parse().map_err(|_| bad())?;
            if a.is_ipv4() != b.is_ipv4() {
                return Err(bad());
            }
            return Ok(IpPattern::Range(a, b));
        }
        s.parse().map(IpPattern::Single).map_err(|_| bad())
    }

    /// True when `ip` is covered by the pattern.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            IpPattern::Single(a) => a == ip,
            IpPattern::Range(a, b) => a.is_ipv4() == ip.is_ipv4() && to_u128(a) <= to_u128(ip) && to_u128(ip) <= to_u128(b),
            IpPattern::Cidr(net, bits) => {
                if net.is_ipv4() != ip.is_ipv4() {
                    return false;
                }
                let width = if net.is_ipv4() { 32 } else { 128 };
                let shift = width - u32::from(bits);
                if shift >= 128 {
                    return true;
                }
                (to_u128(net) >> shift) == (to_u128(ip) >> shift)
            }
        }
    }

    /// True when some address written in `line` is covered by the pattern.
    pub fn matches_line(&self, line: &str) -> bool {
        addresses_in(line).any(|ip| self.contains(ip))
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

static V4: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\d{1,3}(?:\.\d{1,3}){3}").ok());
static V6: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*[0-9A-Fa-f]").ok());

/// Addresses written in `line`: dotted IPv4 quads and colon-separated IPv6 runs.
fn addresses_in(line: &str) -> impl Iterator<Item = IpAddr> + '_ {
    let v4 = V4.as_ref().into_iter().flat_map(move |re| re.find_iter(line)).filter_map(|m| m.as_str().parse().ok());
    let v6 = V6
        .as_ref()
        .into_iter()
        .flat_map(move |re| re.find_iter(line))
        .filter_map(|m| m.as_str().parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6));
    v4.chain(v6)
}

/// `skald_ip_match(line, pattern)`: true when the line contains an address in `pattern`.
pub type IpMatchUdf = LineTestUdf<IpPattern>;

impl LineTest for IpPattern {
    const NAME: &'static str = "skald_ip_match";

    fn parse(pattern: &str) -> Result<IpPattern, String> {
        IpPattern::parse(pattern)
    }

    fn test(&self, line: &str) -> bool {
        self.matches_line(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let cidr = IpPattern::parse("192.168.1.0/24").unwrap();
        assert!(cidr.matches_line("GET / from 192.168.1.77 took 3ms"));
        assert!(!cidr.matches_line("GET / from 192.168.2.77"));
        assert!(cidr.matches_line("client=192.168.1.5:8080"));
        let range = IpPattern::parse("10.0.0.1-10.0.0.20").unwrap();
        assert!(range.matches_line("x 10.0.0.20 y"));
        assert!(!range.matches_line("x 10.0.0.21 y"));
        let single = IpPattern::parse("::1").unwrap();
        assert!(single.matches_line("listening on [::1]:80"));
        assert!(IpPattern::parse("nope").is_err());
        assert!(IpPattern::parse("1.2.3.4/40").is_err());
    }
}
