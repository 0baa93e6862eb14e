//! Facts about this machine's network: its primary address and host name.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

/// The source address of the default route, found without sending anything: a UDP
/// socket "connected" to a public address only asks the kernel for a route.
pub fn primary_ip() -> IpAddr {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
