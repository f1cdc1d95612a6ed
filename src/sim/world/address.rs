//! Addresses as a world description writes them: IP addresses, and prefixes (`10.0.1.0/24`,
//! `2001:db8::/32`) for routes, matched by longest prefix (RFC 1812 section 5.2.4.3).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::error::ConfigError;

/// An address prefix: the addresses whose first `len` bits are those of `network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    network: IpAddr,
    len: u8,
}

impl Prefix {
    /// The prefix of `len` bits of `address` (the bits beyond `len` are cleared), or `None`
    /// if `len` is longer than the address (32 bits for IPv4, 128 for IPv6).
    pub fn new(address: IpAddr, len: u8) -> Option<Prefix> {
        let bits = address_bits(address);
        let width = family_width(address);
        if len > width {
            return None;
        }
        let network = from_bits(address, bits & mask(width, len));
        Some(Prefix { network, len })
    }

    /// The prefix that matches only `address`: a /32, or a /128 for IPv6.
    pub fn host(address: IpAddr) -> Prefix {
        Prefix {
            network: address,
            len: family_width(address),
        }
    }

    /// The default route of `address`'s family: `0.0.0.0/0` or `::/0`.
    pub fn default_for(address: IpAddr) -> Prefix {
        let network = match address {
            IpAddr::V4(_) => IpAddr::from([0u8; 4]),
            IpAddr::V6(_) => IpAddr::from([0u8; 16]),
        };
        Prefix { network, len: 0 }
    }

    /// Whether it is an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }

    /// How many leading bits must match.
    pub fn length(&self) -> u8 {
        self.len
    }

    /// Whether `address` is in the prefix (an address of the other family never is).
    pub fn contains(&self, address: IpAddr) -> bool {
        if address.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        let width = family_width(address);
        address_bits(address) & mask(width, self.len) == address_bits(self.network)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

impl FromStr for Prefix {
    type Err = ConfigError;

    /// `ADDRESS/LENGTH` (`10.0.1.0/24`, `2001:db8::/32`), or a bare address for the prefix
    /// of that one address.
    fn from_str(text: &str) -> Result<Prefix, ConfigError> {
        let bad = |why: &str| ConfigError::BadPrefix {
            text: text.to_string(),
            why: why.to_string(),
        };
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| bad("the part before '/' is not an IPv4 or IPv6 address"))?;
        let Some(len) = len else {
            return Ok(Prefix::host(address));
        };
        let width = family_width(address);
        let len: u8 = len
            .trim()
            .parse()
            .ok()
            .filter(|&len| len <= width)
            .ok_or_else(|| bad(&format!("the length must be a number from 0 to {width}")))?;
        Prefix::new(address, len).ok_or_else(|| bad("the length is too long"))
    }
}

/// Parse an address of a world description, saying what was wrong if it is not one.
pub(super) fn parse_address(text: &str) -> Result<IpAddr, ConfigError> {
    text.trim().parse().map_err(|_| ConfigError::BadAddress {
        text: text.to_string(),
    })
}

fn family_width(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn address_bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(family: IpAddr, bits: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::from(u32::try_from(bits).unwrap_or(u32::MAX).to_be_bytes()),
        IpAddr::V6(_) => IpAddr::from(bits.to_be_bytes()),
    }
}

/// The `len` leading bits of a `width`-bit address set.
fn mask(width: u8, len: u8) -> u128 {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    // A shift by the whole width would overflow: the full length keeps every bit.
    match all.checked_shr(u32::from(len)) {
        Some(rest) if len < width => all & !rest,
        _ => all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_their_addresses_only() {
        let prefix: Prefix = "10.0.1.77/24".parse().unwrap();
        assert_eq!(prefix.to_string(), "10.0.1.0/24");
        assert!(prefix.contains("10.0.1.200".parse().unwrap()));
        assert!(!prefix.contains("10.0.2.1".parse().unwrap()));
        assert!(!prefix.contains("::a00:101".parse().unwrap()));
        let default: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(default.contains("192.0.2.1".parse().unwrap()));
        let v6: Prefix = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        let one: Prefix = "192.0.2.7".parse().unwrap();
        assert_eq!(one.length(), 32);
        assert!(one.contains("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn a_whole_ipv6_address_matches_itself_alone() {
        let address = "2001:db8::1".parse().unwrap();
        let host = Prefix::host(address);
        assert_eq!(host.to_string(), "2001:db8::1/128");
        assert!(host.contains(address));
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
        let parsed: Prefix = "2001:db8::1/128".parse().unwrap();
        assert_eq!(parsed, host);
    }

    #[test]
    fn a_bad_prefix_says_what_is_valid() {
        let error = "10.0.0.0/33".parse::<Prefix>().unwrap_err();
        assert!(error.to_string().contains("from 0 to 32"), "{error}");
        let error = "ten/8".parse::<Prefix>().unwrap_err();
        assert!(error.to_string().contains("IPv4 or IPv6"), "{error}");
    }
}
