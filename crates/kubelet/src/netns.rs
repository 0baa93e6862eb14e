//! TCP connections inside a pod's network namespace.
//!
//! The kubelet runs in the host's network namespace, but probes (httpGet, tcpSocket,
//! grpc), httpGet lifecycle hooks and port-forward must reach ports the pod listens on,
//! and until pod networking exists a pod has only its own loopback. So the socket is
//! created inside the pod's namespace: a fresh, short-lived thread `setns(CLONE_NEWNET)`s
//! into the namespace file the runtime pinned ([`k3rs_runtime::Sandbox::netns`]), creates a
//! non-blocking socket there and hands it back; the connect itself then runs on tokio. A
//! socket stays in the namespace it was created in, and the thread (whose namespace was
//! changed for good) exits, so no pooled thread ever changes namespace.
//!
//! For the streaming server (port-forward): `netns::connect(sandbox.netns.as_deref(),
//! "127.0.0.1:<port>".parse()?)` opens the forwarded connection.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use tokio::net::{TcpSocket, TcpStream};

use crate::probe::Dialer;

/// Connects to `addr` from inside the network namespace pinned at `netns`, or from the
/// kubelet's own namespace when `netns` is `None` (host-network pods).
pub async fn connect(netns: Option<&Path>, addr: SocketAddr) -> io::Result<TcpStream> {
    let Some(netns) = netns else { return TcpStream::connect(addr).await };
    let fd = socket_in(netns, addr.is_ipv6()).await?;
    // SAFETY: `fd` is a freshly created, owned TCP socket; ownership moves into the stream.
    let std_socket = unsafe { std::net::TcpStream::from_raw_fd(into_raw(fd)) };
    TcpSocket::from_std_stream(std_socket).connect(addr).await
}

fn into_raw(fd: OwnedFd) -> i32 {
    use std::os::fd::IntoRawFd;
    fd.into_raw_fd()
}

/// Creates a non-blocking TCP socket in the namespace pinned at `netns`.
async fn socket_in(netns: &Path, ipv6: bool) -> io::Result<OwnedFd> {
    let netns = netns.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("netns-socket".into()).spawn(move || {
        let _ = tx.send(socket_in_blocking(&netns, ipv6));
    })?;
    rx.await.map_err(|_| io::Error::other("network namespace thread died"))?
}

fn socket_in_blocking(netns: &Path, ipv6: bool) -> io::Result<OwnedFd> {
    let file = std::fs::File::open(netns)
        .map_err(|e| io::Error::new(e.kind(), format!("opening network namespace {}: {e}", netns.display())))?;
    // SAFETY: setns on a valid namespace fd; it only changes this (short-lived) thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(err.kind(), format!("entering network namespace {}: {err}", netns.display())));
    }
    let domain = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain socket(2) call; the result is checked before it is wrapped.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The probe dialer of one pod: connections to the pod's own address (the default host
/// of probes and hooks) are made inside the pod's network namespace; an explicit other
/// `host` is reached from the node, as upstream's kubelet reaches it.
#[derive(Clone, Debug)]
pub struct PodDialer {
    netns: Option<PathBuf>,
    pod_host: String,
}

impl PodDialer {
    /// `pod_host` is what probes of this pod target by default (the pod IP, or
    /// `127.0.0.1` while pods have no IP); `netns` is the pod's namespace (None for
    /// host-network pods).
    pub fn new(netns: Option<PathBuf>, pod_host: impl Into<String>) -> PodDialer {
        PodDialer { netns, pod_host: pod_host.into() }
    }
}

impl Dialer for PodDialer {
    fn dial<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<TcpStream>> {
        Box::pin(async move {
            let netns = if host == self.pod_host { self.netns.as_deref() } else { None };
            match host.parse::<std::net::IpAddr>() {
                Ok(ip) => connect(netns, SocketAddr::new(ip, port)).await,
                // Names are resolved by the node, as upstream's kubelet resolves them.
                Err(_) => {
                    let addr = tokio::net::lookup_host((host, port)).await?.next().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, format!("lookup {host}: no such host"))
                    })?;
                    connect(netns, addr).await
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn host_namespace_connects_directly() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = connect(None, addr).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
    }

    #[tokio::test]
    async fn the_hosts_own_namespace_file_works_like_a_pods() {
        // Our own namespace, entered by path, behaves like any pinned one.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        match connect(Some(Path::new("/proc/self/ns/net")), addr).await {
            Ok(stream) => assert_eq!(stream.peer_addr().unwrap(), addr),
            // setns needs CAP_SYS_ADMIN.
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => eprintln!("skipping: {err}"),
            Err(err) => panic!("{err}"),
        }
    }

    #[tokio::test]
    async fn a_missing_namespace_is_reported() {
        let err = connect(Some(Path::new("/nonexistent/netns")), "127.0.0.1:1".parse().unwrap()).await.unwrap_err();
        assert!(err.to_string().contains("/nonexistent/netns"), "{err}");
    }
}
