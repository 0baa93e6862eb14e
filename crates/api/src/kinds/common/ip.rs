//! IP address rules shared by Services and Endpoints.

use std::net::IpAddr;

/// Upstream's message for a string that is not an IP address.
pub const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// The messages upstream's `ValidateNonSpecialIP` gives.
pub fn special_ip_errors(ip: IpAddr) -> impl Iterator<Item = &'static str> {
    let mut msgs = Vec::new();
    if ip.is_unspecified() {
        msgs.push("may not be unspecified (0.0.0.0)");
    }
    if ip.is_loopback() {
        msgs.push("may not be in the loopback range (127.0.0.0/8, ::1/128)");
    }
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local {
        msgs.push("may not be in the link-local range (169.254.0.0/16, fe80::/10)");
    }
    let link_local_multicast = match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => (v6.segments()[0] & 0xff0f) == 0xff02,
    };
    if link_local_multicast {
        msgs.push("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
    }
    msgs.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges() {
        let msgs = |s: &str| special_ip_errors(s.parse().unwrap()).collect::<Vec<_>>();
        assert!(msgs("10.0.0.1").is_empty());
        assert_eq!(msgs("0.0.0.0"), vec!["may not be unspecified (0.0.0.0)"]);
        assert_eq!(msgs("::1"), vec!["may not be in the loopback range (127.0.0.0/8, ::1/128)"]);
        assert_eq!(msgs("169.254.1.1"), vec!["may not be in the link-local range (169.254.0.0/16, fe80::/10)"]);
        assert_eq!(msgs("224.0.0.5"), vec!["may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"]);
    }
}
