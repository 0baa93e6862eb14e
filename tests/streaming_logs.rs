//! `kubectl logs` through the API server's proxy to a kubelet streaming endpoint (a fake
//! node in the test process), and the proxy's error cases.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::kubelet::{Cluster, NODE};
use k3rs_kubelet::streaming::AccessPolicy;

const LINES: [(&str, &str); 3] = [
    ("2025-01-01T10:00:00Z", "first line"),
    ("2025-01-01T10:00:01.5Z", "second line"),
    ("2025-01-01T10:00:02Z", "third line"),
];

#[test]
fn logs_with_tail_timestamps_limit_and_previous() {
    let c = Cluster::start();
    c.create_pod("web", NODE, &["app"]);
    c.node.write_log("default", "web", "app", false, &LINES);
    c.node.write_log("default", "web", "app", true, &[("2024-12-31T23:59:59Z", "before the restart")]);

    assert_eq!(c.server.ok(&["logs", "web"]), "first line\nsecond line\nthird line\n");
    assert_eq!(c.server.ok(&["logs", "web", "--tail=2"]), "second line\nthird line\n");
    assert_eq!(
        c.server.ok(&["logs", "web", "-c", "app", "--tail=1", "--timestamps"]),
        "2025-01-01T10:00:02Z third line\n"
    );
    assert_eq!(c.server.ok(&["logs", "web", "--limit-bytes=8"]), "first li");
    assert_eq!(c.server.ok(&["logs", "web", "--since-time=2025-01-01T10:00:01Z"]), "second line\nthird line\n");
    assert_eq!(c.server.ok(&["logs", "web", "--previous"]), "before the restart\n");

    // A container without a log: the kubelet's answer reaches the client.
    c.create_pod("fresh", NODE, &["app"]);
    let err = c.server.fails(&["logs", "fresh"]);
    assert!(err.contains("NotFound") && err.contains("has no log"), "{err}");
    let err = c.server.fails(&["logs", "fresh", "--previous"]);
    assert!(err.contains("BadRequest") && err.contains("previous terminated"), "{err}");
}

#[test]
fn logs_follow_streams_until_the_container_stops() {
    let c = Cluster::start();
    c.create_pod("web", NODE, &["app"]);
    c.node.write_log("default", "web", "app", false, &LINES[..1]);

    let mut child = c
        .server
        .kubectl_cmd(&["logs", "-f", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl logs -f");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait = Duration::from_secs(20);
    assert_eq!(rx.recv_timeout(wait).unwrap(), "first line");
    c.node.write_log("default", "web", "app", false, &LINES[1..2]);
    assert_eq!(rx.recv_timeout(wait).unwrap(), "second line");
    c.node.write_log("default", "web", "app", false, &LINES[2..]);
    assert_eq!(rx.recv_timeout(wait).unwrap(), "third line");

    // The container stops: the stream ends and kubectl exits successfully.
    c.node.stop_logs.send_replace(true);
    let deadline = std::time::Instant::now() + wait;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("kubectl logs -f did not end after the container stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    reader.join().unwrap();
}

#[test]
fn proxy_errors_name_the_problem() {
    let c = Cluster::start();
    c.create_pod("two", NODE, &["a", "b"]);
    let err = c.server.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/two/log"]);
    assert!(err.contains("a container name must be specified for pod two, choose one of: [a b]"), "{err}");
    let err = c.server.fails(&["logs", "two", "-c", "nope"]);
    assert!(err.contains("container nope is not valid for pod two"), "{err}");

    // Not scheduled: exec needs a host; logs are empty, as upstream answers.
    c.create_pod("pending", "", &["app"]);
    let err = c.server.fails(&["exec", "pending", "--", "true"]);
    assert!(err.contains("pod pending does not have a host assigned"), "{err}");
    assert_eq!(c.server.ok(&["logs", "pending"]), "");

    // A node whose kubelet does not answer.
    let closed = common::free_port();
    c.register_node("node-gone", closed);
    c.create_pod("lost", "node-gone", &["app"]);
    let err = c.server.fails(&["logs", "lost"]);
    assert!(err.contains("ServiceUnavailable") && err.contains("node-gone") && err.contains("unreachable"), "{err}");

    // A pod on a node that does not exist.
    c.create_pod("orphan", "no-such-node", &["app"]);
    let err = c.server.fails(&["logs", "orphan"]);
    assert!(err.contains("nodes \"no-such-node\" not found"), "{err}");
}

#[test]
fn a_kubelet_that_does_not_know_the_api_server_refuses_it() {
    let c = Cluster::start_with_access(AccessPolicy { users: vec!["someone-else".into()], groups: vec![] });
    c.create_pod("web", NODE, &["app"]);
    c.node.write_log("default", "web", "app", false, &LINES);
    let err = c.server.fails(&["logs", "web"]);
    assert!(
        err.contains("Forbidden (user=system:kube-apiserver, verb=get, resource=nodes, subresource(s)=[proxy])"),
        "{err}"
    );
}
