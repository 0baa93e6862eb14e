//! `kubectl exec` and `kubectl attach` through the API server to a kubelet streaming
//! endpoint in the test process: WebSocket (v5) and SPDY, output, stdin, TTY and exit codes.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::kubelet::{Cluster, NODE};
use k3rs_kubelet::streaming::TerminalSize;

/// Runs `cmd` with `input` on stdin, then EOF, within a deadline.
fn run(cmd: Command, input: &[u8], timeout: Duration) -> Output {
    run_stdin(cmd, input, true, timeout)
}

/// Like [`run`]; with `eof` false, stdin stays open until the command ends (a terminal).
fn run_stdin(mut cmd: Command, input: &[u8], eof: bool, timeout: Duration) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut stdin = Some(child.stdin.take().unwrap());
    if let Some(s) = stdin.as_mut() {
        s.write_all(input).unwrap();
        s.flush().unwrap();
    }
    if eof {
        stdin = None;
    }
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} did not finish in {timeout:?}:\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn spdy(mut cmd: Command) -> Command {
    cmd.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false");
    cmd
}

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn exec_over_websocket_and_spdy() {
    let c = Cluster::start();
    c.create_pod("web", NODE, &["app"]);

    for (protocol, transport) in [("websocket", None), ("spdy", Some(()))] {
        let cmd = |args: &[&str]| {
            let cmd = c.server.kubectl_cmd(args);
            if transport.is_some() { spdy(cmd) } else { cmd }
        };
        // Output on both streams.
        let out = run(cmd(&["exec", "web", "--", "sh", "-c", "echo out; echo err >&2"]), b"", WAIT);
        assert!(out.status.success(), "{protocol}: {out:?}");
        assert_eq!(text(&out.stdout), "out\n", "{protocol}");
        assert!(text(&out.stderr).contains("err"), "{protocol}: {}", text(&out.stderr));

        // The exit code reaches kubectl.
        let out = run(cmd(&["exec", "web", "-c", "app", "--", "sh", "-c", "echo before; exit 3"]), b"", WAIT);
        assert_eq!(out.status.code(), Some(3), "{protocol}: {out:?}");
        assert_eq!(text(&out.stdout), "before\n", "{protocol}");

        // Standard input, to EOF.
        let out = run(cmd(&["exec", "-i", "web", "--", "sh", "-c", "cat; echo done"]), b"hello\nworld\n", WAIT);
        assert!(out.status.success(), "{protocol}: {out:?}");
        assert_eq!(text(&out.stdout), "hello\nworld\ndone\n", "{protocol}");

        // A command that cannot start is an error, not a hang.
        let out = run(cmd(&["exec", "web", "--", "/no/such/binary"]), b"", WAIT);
        assert!(!out.status.success(), "{protocol}: {out:?}");
        assert!(text(&out.stderr).contains("/no/such/binary"), "{protocol}: {}", text(&out.stderr));
    }
    // kubectl's request log (-v=7) shows which transport carried the session: WebSocket v5
    // without falling back, or SPDY when WebSockets are turned off.
    let out = run(c.server.kubectl_cmd(&["exec", "-v=7", "web", "--", "true"]), b"", WAIT);
    let log = text(&out.stderr);
    assert!(out.status.success() && log.contains("Sec-Websocket-Protocol: v5.channel.k8s.io"), "{log}");
    assert!(!log.contains("X-Stream-Protocol-Version"), "fell back to SPDY: {log}");
    let out = run(spdy(c.server.kubectl_cmd(&["exec", "-v=7", "web", "--", "true"])), b"", WAIT);
    let log = text(&out.stderr);
    assert!(out.status.success() && log.contains("X-Stream-Protocol-Version: v4.channel.k8s.io"), "{log}");

    let commands = c.node.commands.lock().unwrap().clone();
    assert_eq!(commands[0], vec!["sh", "-c", "echo out; echo err >&2"]);
}

#[test]
fn exec_with_a_terminal() {
    let c = Cluster::start();
    c.create_pod("web", NODE, &["app"]);
    for transport in ["websocket", "spdy"] {
        c.node.resizes.lock().unwrap().clear();
        // `script` gives kubectl a terminal (100x30), so it asks for a TTY and sends its size.
        let kubectl = format!(
            "stty cols 100 rows 30; KUBECTL_REMOTE_COMMAND_WEBSOCKETS={} kubectl exec -it web -- sh -c 'read x; echo got:$x; exit 5'",
            if transport == "spdy" { "false" } else { "true" }
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &kubectl, "/dev/null"])
            .env("KUBECONFIG", c.server.kubeconfig())
            .env("HOME", c.server.dir.path());
        let out = run_stdin(cmd, b"hi\n", false, WAIT);
        assert_eq!(out.status.code(), Some(5), "{transport}: {out:?}");
        assert!(text(&out.stdout).contains("got:hi"), "{transport}: {}", text(&out.stdout));
        assert_eq!(
            c.node.resizes.lock().unwrap().first(),
            Some(&TerminalSize { width: 100, height: 30 }),
            "{transport}"
        );
    }
}

#[test]
fn attach_to_the_main_process() {
    let c = Cluster::start();
    c.create_pod("web", NODE, &["app", "sidecar"]);
    for transport in ["websocket", "spdy"] {
        let mut cmd = c.server.kubectl_cmd(&["attach", "web", "-c", "sidecar", "-i"]);
        if transport == "spdy" {
            cmd = spdy(cmd);
        }
        let out = run(cmd, b"hello\nexit\n", WAIT);
        assert!(out.status.success(), "{transport}: {out:?}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains("attached to sidecar\necho: hello\nmain process done\n"), "{transport}: {stdout}");
    }
}
