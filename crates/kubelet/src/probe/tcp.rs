//! tcpSocket probes: success when a TCP connection opens within the timeout.

use std::time::Duration;

use super::{Dialer, Outcome, join_host_port};

/// Go's description of a failed dial, which upstream's messages carry.
pub(crate) fn dial_error(addr: &str, e: &std::io::Error) -> String {
    let what = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => match e.raw_os_error() {
            Some(113) => "connect: no route to host".to_string(),
            Some(101) => "connect: network is unreachable".to_string(),
            _ => e.to_string(),
        },
    };
    format!("dial tcp {addr}: {what}")
}

pub async fn probe(host: &str, port: u16, timeout: Duration, dialer: &dyn Dialer) -> Outcome {
    let addr = join_host_port(host, port);
    match tokio::time::timeout(timeout, dialer.dial(host, port)).await {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(e)) => Outcome::Failure(dial_error(&addr, &e)),
        Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::HostDialer;

    #[tokio::test]
    async fn open_and_closed_ports() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(probe("127.0.0.1", port, Duration::from_secs(1), &HostDialer).await, Outcome::Success);
        drop(listener);
        match probe("127.0.0.1", port, Duration::from_secs(1), &HostDialer).await {
            Outcome::Failure(m) => assert_eq!(m, format!("dial tcp 127.0.0.1:{port}: connect: connection refused")),
            other => panic!("{other:?}"),
        }
    }
}
