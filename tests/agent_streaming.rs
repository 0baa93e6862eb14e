//! `kubectl logs`, `exec` and `port-forward` end to end: the real kubectl, a real
//! `k3rs server` whose in-process agent serves the kubelet endpoint on a port of its own,
//! and containers in a private containerd. The API server finds the kubelet through the
//! Node's address (127.0.0.1) and `daemonEndpoints.kubeletEndpoint.Port`.

mod agent_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agent_common::{AgentCluster, Containerd, JoinedAgent, can_run, condition, eventually};
use k3rs_runtime::image::builder::{ArchiveFormat, Compression, ImageBuilder};

const IMAGE: &str = "k3rs.local/streaming/busybox:1";

/// Puts the test image into an agent's airgap directory (`<data-dir>/agent/images`).
fn airgap_image(data_dir: &std::path::Path) {
    let airgap = data_dir.join("agent/images");
    std::fs::create_dir_all(&airgap).expect("airgap dir");
    ImageBuilder::busybox(IMAGE)
        .expect("busybox image")
        .write_archive(&airgap.join("busybox.tar"), ArchiveFormat::Oci, Compression::None)
        .expect("image archive");
}

/// A cluster whose agent has the test image.
fn cluster() -> AgentCluster {
    let cluster = AgentCluster::prepare(Containerd::Given, &[]);
    airgap_image(&cluster.data_dir());
    let cluster = cluster.launch();
    cluster.wait_agent_started(1);
    cluster
}

/// A pod bound to the agent's node running `script` in its container `app`; `volume` is an
/// emptyDir mounted at `/data`.
fn pod(cluster: &AgentCluster, name: &str, script: &str, volume: bool) {
    pod_on(cluster, &cluster.node, name, script, volume);
}

fn pod_on(cluster: &AgentCluster, node: &str, name: &str, script: &str, volume: bool) {
    let script = script.replace('\'', "''");
    let (volumes, mounts) = if volume {
        ("  volumes:\n  - name: data\n    emptyDir: {}\n", "    volumeMounts:\n    - {name: data, mountPath: /data}\n")
    } else {
        ("", "")
    };
    apply(
        cluster,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {node}\n  \
             terminationGracePeriodSeconds: 1\n{volumes}  containers:\n  - name: app\n    image: {IMAGE}\n    \
             imagePullPolicy: Never\n    command: [sh, -c, '{script}']\n{mounts}"
        ),
    );
}

/// A pod whose image is not there (and may not be pulled): it waits in `ErrImageNeverPull`.
fn pod_without_image(cluster: &AgentCluster, name: &str) {
    apply(
        cluster,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {}\n  containers:\n  \
             - name: app\n    image: k3rs.local/streaming/nothing:1\n    imagePullPolicy: Never\n",
            cluster.node
        ),
    );
}

#[track_caller]
fn apply(cluster: &AgentCluster, manifest: &str) {
    let mut child = kubectl(cluster, &["apply", "-f", "-"]).stdin(Stdio::piped()).spawn().expect("kubectl apply");
    child.stdin.take().expect("stdin").write_all(manifest.as_bytes()).expect("write manifest");
    let out = child.wait_with_output().expect("kubectl apply");
    assert!(out.status.success(), "apply: {}\n{manifest}", String::from_utf8_lossy(&out.stderr));
}

fn kubectl(cluster: &AgentCluster, args: &[&str]) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", cluster.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits until the pod's `app` container runs (restarted at least `restarts` times).
#[track_caller]
fn wait_running(cluster: &AgentCluster, name: &str, restarts: i64) {
    let ok = eventually(Duration::from_secs(90), || {
        let out = cluster.kubectl(&["get", "pod", name, "-o", "json"]);
        let pod: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let status = &pod["status"]["containerStatuses"][0];
        !status["state"]["running"].is_null() && status["restartCount"].as_i64().unwrap_or(0) >= restarts
    });
    if !ok {
        let describe = cluster.kubectl(&["describe", "pod", name]);
        panic!(
            "pod {name} is not running (restarts >= {restarts}):\n{}\n{}",
            String::from_utf8_lossy(&describe.stdout),
            cluster.log()
        );
    }
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[track_caller]
fn ok(cluster: &AgentCluster, args: &[&str]) -> String {
    let out = cluster.kubectl(args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "kubectl {args:?} failed ({}):\n{stdout}\n{stderr}\n{}", out.status, cluster.log());
    stdout
}

/// Reads a child's stdout on a thread, line by line (or chunk by chunk with `raw`).
fn reader(stream: impl Read + Send + 'static, raw: bool) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stream = BufReader::new(stream);
        loop {
            let mut piece = String::new();
            let n = if raw {
                let mut buf = [0u8; 4096];
                match stream.read(&mut buf) {
                    Ok(n) => {
                        piece = String::from_utf8_lossy(&buf[..n]).into_owned();
                        n
                    }
                    Err(_) => 0,
                }
            } else {
                stream.read_line(&mut piece).unwrap_or(0)
            };
            if n == 0 || tx.send(piece).is_err() {
                return;
            }
        }
    });
    rx
}

/// Collects what `rx` delivers until `done` holds for all of it; the text so far on timeout.
fn read_until(rx: &mpsc::Receiver<String>, timeout: Duration, done: impl Fn(&str) -> bool) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut all = String::new();
    while !done(&all) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(piece) => all.push_str(&piece),
            Err(_) => return Err(all),
        }
    }
    Ok(all)
}

/// Kills a child this test started (by its pid) and reaps it.
fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn ticks(output: &str) -> Vec<u64> {
    output.lines().filter_map(|l| l.trim().strip_prefix("tick ")?.parse().ok()).collect()
}

const TICKER: &str = "i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 0.5; done";

#[test]
fn kubectl_logs_reads_the_containers_logs() {
    if !can_run() {
        return;
    }
    let cluster = cluster();
    pod(&cluster, "ticker", TICKER, false);
    // The first run prints and fails; the second prints and stays (an emptyDir counts runs).
    let crasher = "n=$(cat /data/n 2>/dev/null || echo 0); echo \"run $n\"; echo $((n+1)) > /data/n; \
                   if [ $n = 0 ]; then echo oops >&2; exit 1; fi; sleep 3600";
    pod(&cluster, "crasher", crasher, true);
    let node_port = cluster.get_json(&["node", &cluster.node])["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .expect("kubelet port in the node status");
    assert!(node_port > 0 && node_port != 10250, "the test kubelet runs on a port of its own: {node_port}");
    wait_running(&cluster, "ticker", 0);
    assert!(eventually(Duration::from_secs(20), || ticks(&ok(&cluster, &["logs", "ticker"])).len() >= 4));

    // Plain: every line, in order.
    let all = ticks(&ok(&cluster, &["logs", "ticker"]));
    assert_eq!(all, (0..all.len() as u64).collect::<Vec<_>>(), "{all:?}");

    // --tail: the last lines only.
    let tail = ticks(&ok(&cluster, &["logs", "ticker", "--tail=2"]));
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert_eq!(tail[1], tail[0] + 1, "{tail:?}");
    assert!(tail[0] + 1 >= all.len() as u64 - 1, "{tail:?} after {all:?}");

    // --timestamps: each line starts with an RFC 3339 time.
    let stamped = ok(&cluster, &["logs", "ticker", "--timestamps", "--tail=3"]);
    assert_eq!(stamped.lines().count(), 3, "{stamped}");
    for line in stamped.lines() {
        let (time, rest) = line.split_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(time.parse::<jiff::Timestamp>().is_ok(), "timestamp {time:?} in {line:?}");
        assert!(rest.starts_with("tick "), "{line}");
    }

    // --limit-bytes and --since.
    assert_eq!(ok(&cluster, &["logs", "ticker", "--limit-bytes=6"]), "tick 0");
    let since = ticks(&ok(&cluster, &["logs", "ticker", "--since=1s"]));
    assert!(since.len() <= 4 && since.first() != Some(&0), "{since:?}");

    // -f: lines written after kubectl started arrive while it runs.
    let last_before = *ticks(&ok(&cluster, &["logs", "ticker", "--tail=1"])).last().expect("a tick");
    let mut follow = kubectl(&cluster, &["logs", "-f", "ticker", "--tail=1"]).spawn().expect("kubectl logs -f");
    let lines = reader(follow.stdout.take().expect("stdout"), false);
    let seen = read_until(&lines, Duration::from_secs(20), |s| ticks(s).iter().any(|t| *t >= last_before + 4));
    stop(follow);
    let seen = seen.unwrap_or_else(|s| panic!("kubectl logs -f saw only {s:?} (last tick before: {last_before})"));
    let seen = ticks(&seen);
    assert_eq!(seen, (seen[0]..seen[0] + seen.len() as u64).collect::<Vec<_>>(), "{seen:?}");

    // -f ends when the container does, with its last lines.
    apply(
        &cluster,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: short\nspec:\n  nodeName: {}\n  restartPolicy: Never\n  \
             containers:\n  - name: app\n    image: {IMAGE}\n    imagePullPolicy: Never\n    \
             command: [sh, -c, 'echo one; sleep 3; echo two']\n",
            cluster.node
        ),
    );
    wait_running(&cluster, "short", 0);
    let mut follow = kubectl(&cluster, &["logs", "-f", "short"]).spawn().expect("kubectl logs -f");
    let deadline = Instant::now() + Duration::from_secs(30);
    while follow.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            stop(follow);
            panic!("kubectl logs -f did not end with the container\n{}", cluster.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = follow.wait_with_output().expect("kubectl logs -f");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");

    // --previous: the run before the restart.
    let (out, err) = text(&cluster.kubectl(&["logs", "ticker", "--previous"]));
    assert!(
        err.contains(r#"previous terminated container "app" in pod "ticker" not found"#),
        "stdout: {out}\nstderr: {err}"
    );
    wait_running(&cluster, "crasher", 1);
    assert!(ok(&cluster, &["logs", "crasher", "--previous"]).contains("run 0\noops\n"));
    assert_eq!(ok(&cluster, &["logs", "crasher"]), "run 1\n");
    assert_eq!(ok(&cluster, &["logs", "crasher", "-p", "--tail=1"]), "oops\n");

    // A container that cannot start says why.
    pod_without_image(&cluster, "missing");
    let mut last = String::new();
    let waiting = eventually(Duration::from_secs(30), || {
        let out = cluster.kubectl(&["logs", "missing"]);
        last = text(&out).1;
        !out.status.success()
            && last.contains(r#"container "app" in pod "missing" is waiting to start: ErrImageNeverPull"#)
    });
    assert!(waiting, "{last}");
    assert!(last.contains("BadRequest"), "{last}");
}

#[test]
fn kubectl_exec_runs_commands_in_the_container() {
    if !can_run() {
        return;
    }
    let cluster = cluster();
    pod(&cluster, "shell", "echo ready; exec sleep 3600", false);
    wait_running(&cluster, "shell", 0);

    // Output streams apart, exit codes propagated.
    let out = cluster.kubectl(&["exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; cat /etc/hostname"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", cluster.log());
    assert_eq!(stdout, "out\nshell\n");
    assert_eq!(stderr, "err\n");
    let out = cluster.kubectl(&["exec", "shell", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let out = cluster.kubectl(&["exec", "shell", "--", "no-such-command"]);
    assert!(!out.status.success(), "{:?}", text(&out));

    // stdin, closed at its end.
    let mut child = kubectl(&cluster, &["exec", "-i", "shell", "--", "sh", "-c", "wc -l; echo done"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kubectl exec -i");
    child.stdin.take().expect("stdin").write_all(b"one\ntwo\nthree\n").expect("write stdin");
    let out = child.wait_with_output().expect("kubectl exec -i");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>(), ["3", "done"]);

    // A terminal: kubectl under script(1)'s pseudo-terminal, typing into a shell.
    let command = format!(
        "KUBECONFIG={} HOME={} kubectl exec -it shell -- sh",
        cluster.kubeconfig().display(),
        cluster.dir().display()
    );
    let mut script = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1)");
    let mut input = script.stdin.take().expect("stdin");
    let output = reader(script.stdout.take().expect("stdout"), true);
    let prompt = read_until(&output, Duration::from_secs(20), |s| s.contains("# "));
    let typed = prompt.and_then(|_| {
        input.write_all(b"echo $((6*7)) $(tty)\n").map_err(|e| e.to_string())?;
        read_until(&output, Duration::from_secs(20), |s| s.contains("42 /dev/pts/"))
    });
    let typed = match typed {
        Ok(typed) => typed,
        Err(seen) => {
            stop(script);
            panic!("the terminal session showed only {seen:?}\n{}", cluster.log());
        }
    };
    assert!(typed.contains("42 /dev/pts/"), "{typed}");
    input.write_all(b"exit 5\n").expect("type exit");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = script.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            stop(script);
            panic!("kubectl exec -it did not end after `exit`");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(5), "the shell's exit code");
    drop(input);

    // Attach: the main process's output from now on.
    pod(&cluster, "talker", TICKER, false);
    wait_running(&cluster, "talker", 0);
    let mut attach = kubectl(&cluster, &["attach", "talker"]).spawn().expect("kubectl attach");
    let lines = reader(attach.stdout.take().expect("stdout"), false);
    let seen = read_until(&lines, Duration::from_secs(20), |s| ticks(s).len() >= 3);
    stop(attach);
    let seen = ticks(&seen.unwrap_or_else(|s| panic!("kubectl attach showed {s:?}\n{}", cluster.log())));
    assert_eq!(seen[1], seen[0] + 1, "{seen:?}");

    // Exec in a container that is not running is refused with the reason.
    pod_without_image(&cluster, "missing");
    let mut last = String::new();
    let refused = eventually(Duration::from_secs(30), || {
        let out = cluster.kubectl(&["exec", "missing", "--", "true"]);
        last = text(&out).1;
        !out.status.success() && last.contains("is waiting to start: ErrImageNeverPull")
    });
    assert!(refused, "{last}");
}

#[test]
fn kubectl_port_forward_reaches_a_server_in_the_pod() {
    if !can_run() {
        return;
    }
    let cluster = cluster();
    let web = "mkdir -p /www && echo hello-from-the-pod > /www/index.html && exec httpd -f -p 8080 -h /www";
    pod(&cluster, "web", web, false);
    wait_running(&cluster, "web", 0);

    let mut forward =
        kubectl(&cluster, &["port-forward", "pod/web", ":8080", ":9"]).spawn().expect("kubectl port-forward");
    let lines = reader(forward.stdout.take().expect("stdout"), false);
    let ports = read_until(&lines, Duration::from_secs(20), |s| s.matches("Forwarding from 127.0.0.1:").count() >= 2);
    let ports = match ports {
        Ok(ports) => ports,
        Err(seen) => {
            stop(forward);
            panic!("kubectl port-forward printed {seen:?}\n{}", cluster.log());
        }
    };
    let local = |remote: &str| -> u16 {
        ports
            .lines()
            .find(|l| l.starts_with("Forwarding from 127.0.0.1:") && l.ends_with(&format!("-> {remote}")))
            .and_then(|l| l.trim_start_matches("Forwarding from 127.0.0.1:").split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no local port for {remote} in {ports:?}"))
    };
    let (http_port, closed_port) = (local("8080"), local("9"));

    let get = |port: u16| -> std::io::Result<String> {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port))?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))?;
        conn.write_all(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")?;
        let mut response = String::new();
        conn.read_to_string(&mut response)?;
        Ok(response)
    };
    // Two connections in turn, then two at once.
    let mut responses = vec![get(http_port), get(http_port)];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| get(http_port));
        let b = s.spawn(|| get(http_port));
        (a.join().expect("thread"), b.join().expect("thread"))
    });
    responses.extend([a, b]);
    // Nothing listens on port 9 in the pod: the connection is closed without data.
    let refused = get(closed_port);
    stop(forward);
    for response in responses {
        let response = response.expect("a response through the tunnel");
        assert!(response.starts_with("HTTP/1.") && response.contains(" 200 "), "{response}");
        assert!(response.ends_with("hello-from-the-pod\n"), "{response}");
    }
    assert_eq!(refused.unwrap_or_default(), "");
}

#[test]
fn a_joined_agent_serves_the_kubelet_endpoint() {
    if !can_run() {
        return;
    }
    let cluster = cluster();
    let token = std::fs::read_to_string(cluster.data_dir().join("server/token")).expect("server token");
    // JoinedAgent keeps its data under <environment>/agent-<name>/data.
    airgap_image(&cluster.env().dir().join("agent-worker-1/data"));
    let mut agent = JoinedAgent::start(&cluster, "worker-1", token.trim());
    let ready = eventually(Duration::from_secs(60), || {
        let out = cluster.kubectl(&["get", "node", "worker-1", "-o", "json"]);
        out.status.success()
            && condition(&serde_json::from_slice(&out.stdout).unwrap_or_default(), "Ready").as_deref() == Some("True")
    });
    assert!(ready, "worker-1 is not Ready:\n{}", agent.log());

    pod_on(&cluster, "worker-1", "remote", "echo hello from worker-1; exec sleep 3600", false);
    let running = eventually(Duration::from_secs(60), || {
        let pod = cluster.get_json(&["pod", "remote"]);
        !pod["status"]["containerStatuses"][0]["state"]["running"].is_null()
    });
    assert!(running, "pod remote is not running:\n{}", agent.log());
    assert_eq!(ok(&cluster, &["logs", "remote"]), "hello from worker-1\n");
    assert_eq!(ok(&cluster, &["exec", "remote", "--", "cat", "/etc/hostname"]), "remote\n");

    // The agent removes what it ran before it stops.
    ok(&cluster, &["delete", "pod", "remote", "--wait=true", "--timeout=60s"]);
    agent.stop();

    // An agent whose kubelet port is taken does not start, and says why.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to take");
    let port = taken.local_addr().expect("address").port();
    let mut blocked = JoinedAgent::start_with_kubelet_port(&cluster, "worker-2", token.trim(), port);
    let status = blocked.wait_exit(Duration::from_secs(60));
    let log = blocked.log();
    assert!(status.is_some_and(|s| !s.success()), "the agent kept running ({status:?}):\n{log}");
    let want = format!("serving the kubelet endpoint on 127.0.0.1:{port} (--kubelet-address, --kubelet-port)");
    assert!(log.contains(&want) && log.contains("in use"), "{log}");
    drop(taken);
}
