//! Test harness for the agent: a private containerd (`k3rs_runtime::testing::TestEnvironment`)
//! and a real `k3rs server` process with its in-process agent, everything (data directory,
//! run directory, cgroup parent, kubelet and log directories) inside the environment's
//! temporary directory, so that the environment's cleanup removes every container, mount,
//! namespace and process the agent made, even when a test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use k3rs_runtime::testing::TestEnvironment;

/// Which containerd the agent uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Containerd {
    /// The environment's containerd, through `--container-runtime-endpoint`.
    Given,
    /// One the agent starts and supervises under its data directory.
    Managed,
}

pub struct AgentCluster {
    server: Option<Child>,
    pub port: u16,
    pub node: String,
    mode: Containerd,
    extra: Vec<String>,
    env: Option<TestEnvironment>,
    pub rt: tokio::runtime::Runtime,
}

/// `None` (and a message) when this machine cannot run containers.
pub fn can_run() -> bool {
    k3rs_runtime::testing::can_run_containers()
}

impl AgentCluster {
    /// Starts containerd, then the server with its agent, and waits for the API.
    pub fn start(mode: Containerd, extra: &[&str]) -> AgentCluster {
        let cluster = Self::prepare(mode, extra);
        Self::launch(cluster)
    }

    /// Starts containerd only; `launch` starts the server (to put files in place first).
    pub fn prepare(mode: Containerd, extra: &[&str]) -> AgentCluster {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let env = rt.block_on(TestEnvironment::start()).expect("private containerd");
        let port = free_port();
        AgentCluster {
            server: None,
            port,
            node: format!("agent-e2e-{port}"),
            mode,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: Some(env),
            rt,
        }
    }

    pub fn launch(mut self) -> AgentCluster {
        self.spawn();
        self
    }

    pub fn env(&self) -> &TestEnvironment {
        self.env.as_ref().expect("environment")
    }

    pub fn dir(&self) -> PathBuf {
        self.env().dir().join("k3rs")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir().join("kubeconfig.yaml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The flags that put the agent's state inside the environment and select containerd.
    pub fn agent_flags(&self) -> Vec<String> {
        let env = self.env();
        let mut flags = vec![
            "--node-name".to_string(),
            self.node.clone(),
            "--node-ip".into(),
            "127.0.0.1".into(),
            // A free port, chosen by the agent and reported in the Node's status.
            "--kubelet-port".into(),
            "0".into(),
            "--kubelet-address".into(),
            "127.0.0.1".into(),
            "--run-dir".into(),
            path(&env.config().run_dir),
            "--cgroup-parent".into(),
            env.config().cgroup_parent.clone(),
            "--kubelet-root-dir".into(),
            path(&self.dir().join("kubelet")),
            "--pod-log-dir".into(),
            path(&env.log_dir()),
            "--private-registry".into(),
            path(&self.dir().join("registries.yaml")),
        ];
        if self.mode == Containerd::Given {
            flags.push("--container-runtime-endpoint".into());
            flags.push(format!("unix://{}", path(&self.socket())));
        }
        flags
    }

    /// The socket of the containerd the agent uses.
    pub fn socket(&self) -> PathBuf {
        match self.mode {
            Containerd::Given => self.env().runtime.containerd().socket().to_path_buf(),
            Containerd::Managed => self.data_dir().join("agent/containerd/state/containerd.sock"),
        }
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(self.dir()).expect("test dir");
        let config = self.dir().join("config.yaml");
        if !config.exists() {
            std::fs::write(&config, "").expect("config");
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_k3rs"))
            .arg("server")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--bind-address", "127.0.0.1", "--https-listen-port", &self.port.to_string()])
            .arg("--write-kubeconfig")
            .arg(self.kubeconfig())
            .args(self.agent_flags())
            .args(&self.extra)
            .env_remove("K3RS_CONFIG_FILE")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start k3rs server");
        self.server = Some(child);
        self.wait_api();
    }

    fn wait_api(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.server.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("k3rs server exited early ({status}):\n{}", self.log());
            }
            if self.kubeconfig().exists() && self.kubectl(&["get", "--raw", "/readyz"]).status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "k3rs server did not become ready:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server as systemd would (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("k3rs server did not stop within 30s of SIGTERM:\n{}", self.log());
        }
    }

    /// Starts the server again after [`AgentCluster::stop`].
    pub fn restart_after_stop(&mut self) {
        assert!(self.server.is_none(), "the server is running");
        self.spawn();
    }

    /// SIGTERM, then start again on the same directories and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir())
            .output()
            .expect("run kubectl")
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[track_caller]
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("kubectl json")
    }

    /// `k3rs images …` against this agent's containerd.
    pub fn images(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_k3rs"));
        cmd.arg("images").arg("--data-dir").arg(self.data_dir()).args(args).env_remove("K3RS_CONFIG_FILE");
        if self.mode == Containerd::Given {
            cmd.arg("--container-runtime-endpoint").arg(self.socket());
        }
        cmd.output().expect("run k3rs images")
    }

    /// Waits until the agent has started `times` times (since the test began), i.e. the
    /// current server process's agent is up (a Node still Ready from before a restart
    /// does not say so).
    #[track_caller]
    pub fn wait_agent_started(&self, times: usize) {
        let started = eventually(Duration::from_secs(60), || self.log().matches("agent started").count() >= times);
        assert!(started, "the agent did not start:\n{}", self.log());
    }

    /// Waits until the Node reports Ready=True; returns it.
    #[track_caller]
    pub fn wait_node_ready(&self) -> serde_json::Value {
        let mut node = serde_json::Value::Null;
        let ready = eventually(Duration::from_secs(60), || {
            let out = self.kubectl(&["get", "node", &self.node, "-o", "json"]);
            if !out.status.success() {
                return false;
            }
            node = serde_json::from_slice(&out.stdout).unwrap_or_default();
            condition(&node, "Ready") == Some("True".into())
        });
        assert!(ready, "node {} did not become Ready:\n{node:#}\n{}", self.node, self.log());
        node
    }

    /// A runtime on the agent's containerd, sharing its run directory and cgroups (for
    /// tests that look at containers the way the agent sees them).
    pub fn runtime(&self) -> k3rs_runtime::Runtime {
        let mut config = self.env().config().clone();
        config.endpoint = k3rs_runtime::Endpoint::Socket(self.socket());
        self.rt.block_on(k3rs_runtime::Runtime::start(config)).expect("runtime on the agent's containerd")
    }
}

impl Drop for AgentCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(env) = self.env.take() {
            self.rt.block_on(env.cleanup());
        }
    }
}

pub fn condition(node: &serde_json::Value, ty: &str) -> Option<String> {
    node.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .and_then(|c| c["status"].as_str())
        .map(String::from)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub fn path(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A `k3rs agent` process joined to an [`AgentCluster`]'s server, with a containerd of its
/// own under the cluster's environment directory (so the environment's cleanup covers it).
pub struct JoinedAgent {
    child: Option<Child>,
    pub node: String,
    pub dir: PathBuf,
}

impl JoinedAgent {
    pub fn start(cluster: &AgentCluster, name: &str, token: &str) -> JoinedAgent {
        Self::start_with_kubelet_port(cluster, name, token, 0)
    }

    /// As [`JoinedAgent::start`], with the kubelet endpoint on `kubelet_port` (0: a free one).
    pub fn start_with_kubelet_port(cluster: &AgentCluster, name: &str, token: &str, kubelet_port: u16) -> JoinedAgent {
        let env = cluster.env();
        let dir = env.dir().join(format!("agent-{name}"));
        std::fs::create_dir_all(&dir).expect("agent dir");
        std::fs::write(dir.join("config.yaml"), "").expect("config");
        let log = std::fs::File::create(dir.join("agent.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_k3rs"))
            .arg("agent")
            .args(["--server", &format!("https://127.0.0.1:{}", cluster.port), "--token", token])
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--node-name", name, "--node-ip", "127.0.0.1", "--kubelet-port", &kubelet_port.to_string()])
            .args(["--kubelet-address", "127.0.0.1"])
            .args(["--node-label", "example.com/pool=workers"])
            .arg("--node-password-file")
            .arg(dir.join("node-password"))
            .arg("--run-dir")
            .arg(dir.join("run"))
            .args(["--cgroup-parent", &format!("{}/{name}", env.config().cgroup_parent)])
            .arg("--kubelet-root-dir")
            .arg(dir.join("kubelet"))
            .arg("--pod-log-dir")
            .arg(dir.join("pods"))
            .arg("--private-registry")
            .arg(dir.join("registries.yaml"))
            .env_remove("K3RS_CONFIG_FILE")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start k3rs agent");
        JoinedAgent { child: Some(child), node: name.to_string(), dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// Waits for the process to exit (for agents expected to fail).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// SIGTERM and wait, as systemd stops it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for JoinedAgent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
