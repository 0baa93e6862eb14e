//! `kubectl port-forward` through the API server to a kubelet streaming endpoint in the
//! test process, whose pods' ports are loopback ports: SPDY tunnelled in a WebSocket (the
//! default) and raw SPDY.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::kubelet::{Cluster, NODE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

/// A TCP echo server on the fake node's runtime (ends with the cluster); returns its port.
fn echo_server(c: &Cluster) -> u16 {
    let listener = c.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    c.handle().spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

struct PortForward {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kubectl port-forward pod/web local:remote` (logging its requests) and waits
/// until it listens.
fn port_forward(c: &Cluster, local: u16, remote: u16, websockets: bool) -> PortForward {
    let mut cmd = c.server.kubectl_cmd(&["port-forward", "-v=7", "pod/web", &format!("{local}:{remote}")]);
    cmd.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", if websockets { "true" } else { "false" });
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("kubectl port-forward");
    let (out_tx, out_rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out_tx.send(line);
        }
    });
    let (err_tx, err_rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = err_tx.send(line);
        }
    });
    let mut pf = PortForward { child, stderr: err_rx };
    let line = out_rx.recv_timeout(WAIT).unwrap_or_else(|_| {
        let _ = pf.child.kill();
        panic!("port-forward did not start: {:?}", pf.stderr.try_iter().collect::<Vec<_>>())
    });
    assert_eq!(line, format!("Forwarding from 127.0.0.1:{local} -> {remote}"));
    pf
}

fn round_trip(local: u16, message: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", local)).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    conn.write_all(message).unwrap();
    let mut got = vec![0u8; message.len()];
    conn.read_exact(&mut got).unwrap();
    got
}

fn forward_and_echo(websockets: bool) {
    let c = Cluster::start();
    c.create_pod("web", NODE, &["app"]);
    let remote = echo_server(&c);
    let local = common::free_port();
    let pf = port_forward(&c, local, remote, websockets);

    assert_eq!(round_trip(local, b"ping\n"), b"ping\n");
    // Several connections, one after the other and at once, each with its own streams.
    assert_eq!(round_trip(local, b"second"), b"second");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let payload = if i == 0 { big.clone() } else { format!("conn {i}").into_bytes() };
            std::thread::spawn(move || (round_trip(local, &payload) == payload, i))
        })
        .collect();
    for t in threads {
        let (same, i) = t.join().unwrap();
        assert!(
            same,
            "connection {i} ({} transport) got other bytes back",
            if websockets { "websocket" } else { "spdy" }
        );
    }
    // kubectl's request log (-v=7) shows which transport carried the streams.
    let log = pf.stderr.try_iter().collect::<Vec<_>>().join("\n");
    if websockets {
        assert!(log.contains("Sec-Websocket-Protocol: SPDY/3.1+portforward.k8s.io"), "{log}");
    } else {
        assert!(
            log.contains("verb=\"POST\"") && log.contains("X-Stream-Protocol-Version: portforward.k8s.io"),
            "{log}"
        );
    }
}

#[test]
fn port_forward_through_a_websocket_tunnel() {
    forward_and_echo(true);
}

#[test]
fn port_forward_over_spdy() {
    forward_and_echo(false);
}

#[test]
fn port_forward_to_a_closed_port_reports_the_error() {
    let c = Cluster::start();
    c.create_pod("web", NODE, &["app"]);
    let closed = common::free_port();
    let local = common::free_port();
    let pf = port_forward(&c, local, closed, true);
    let mut conn = TcpStream::connect(("127.0.0.1", local)).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let _ = conn.write_all(b"anyone?");
    let mut buf = [0u8; 16];
    assert!(matches!(conn.read(&mut buf), Ok(0) | Err(_)), "no data from a closed port");
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        if let Ok(line) = pf.stderr.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
            if seen.iter().any(|l| l.contains(&format!("error forwarding port {closed} to pod default/web"))) {
                return;
            }
        }
    }
    panic!("kubectl did not report the forwarding error: {seen:?}");
}
