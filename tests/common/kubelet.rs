//! A kubelet streaming endpoint in the test process, backed by a fake node: logs come from
//! CRI-format files the test writes, exec runs local processes, attach talks to a tiny
//! in-process "main process", and port-forward connects to loopback ports. A Node pointing
//! at it and pods bound to that node are registered in a [`TestServer`].

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use k3rs_kubelet::streaming::log_file::{LogSource, format_entry, read_log};
use k3rs_kubelet::streaming::{
    AccessPolicy, BackendError, ContainerRef, LogOptions, LogStream, PodRef, PortStream, ProcessIo, StreamingBackend,
    StreamingServer, StreamingServerConfig, TerminalSize, tls_config,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::TestServer;

pub const NODE: &str = "node-a";

/// What the fake node knows and records.
pub struct FakeNode {
    log_dir: PathBuf,
    /// Set to true to make followed logs end (the container "exited").
    pub stop_logs: watch::Sender<bool>,
    /// Terminal sizes received by exec sessions.
    pub resizes: Mutex<Vec<TerminalSize>>,
    /// Commands exec ran, in order.
    pub commands: Mutex<Vec<Vec<String>>>,
}

impl FakeNode {
    fn log_path(&self, c: &ContainerRef, previous: bool) -> PathBuf {
        let name = if previous { format!("{}.previous.log", c.container) } else { format!("{}.log", c.container) };
        self.log_dir.join(format!("{}_{}", c.pod.namespace, c.pod.name)).join(name)
    }

    /// Appends lines to a container's log file as the runtime would.
    pub fn write_log(&self, namespace: &str, pod: &str, container: &str, previous: bool, lines: &[(&str, &str)]) {
        let c = ContainerRef {
            pod: PodRef { namespace: namespace.into(), name: pod.into(), uid: None },
            container: container.into(),
        };
        let path = self.log_path(&c, previous);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        for (time, text) in lines {
            f.write_all(&format_entry(time.parse().unwrap(), LogSource::Stdout, false, text.as_bytes())).unwrap();
        }
    }
}

impl StreamingBackend for FakeNode {
    async fn logs(&self, container: &ContainerRef, options: &LogOptions) -> Result<LogStream, BackendError> {
        let path = self.log_path(container, options.previous);
        if !path.exists() {
            return Err(if options.previous {
                BackendError::BadRequest(format!("previous terminated {container} not found"))
            } else {
                BackendError::NotFound(format!("{container} has no log"))
            });
        }
        let mut stop = self.stop_logs.subscribe();
        read_log(path, options.clone(), async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .map_err(|e| BackendError::Internal(e.to_string()))
    }

    async fn exec(&self, _container: &ContainerRef, command: Vec<String>, io: ProcessIo) -> Result<i32, BackendError> {
        self.commands.lock().unwrap().push(command.clone());
        let ProcessIo { stdin, stdout, stderr, tty, resize } = io;
        if let Some(mut resize) = resize {
            let first = resize.recv().await;
            self.resizes.lock().unwrap().extend(first);
        }
        let mut child = tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .env("TERM", if tty { "xterm" } else { "dumb" })
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BackendError::Internal(format!("starting {:?}: {e}", command[0])))?;
        let mut tasks = Vec::new();
        let feeder = match (stdin, child.stdin.take()) {
            (Some(mut from), Some(mut to)) => Some(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from, &mut to).await;
                let _ = to.shutdown().await;
            })),
            _ => None,
        };
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        match (stdout, stderr) {
            (Some(mut sink), Some(mut err_sink)) => {
                tasks.push(tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut out, &mut sink).await;
                }));
                tasks.push(tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut err, &mut err_sink).await;
                }));
            }
            (Some(mut sink), None) => {
                // A terminal merges the two outputs.
                tasks.push(tokio::spawn(async move {
                    let mut both = tokio::io::AsyncReadExt::chain(out, err);
                    let _ = tokio::io::copy(&mut both, &mut sink).await;
                }));
            }
            _ => {}
        }
        let status = child.wait().await.map_err(|e| BackendError::Internal(e.to_string()))?;
        for t in tasks {
            let _ = t.await;
        }
        if let Some(f) = feeder {
            f.abort();
        }
        Ok(status.code().unwrap_or(128))
    }

    async fn attach(&self, container: &ContainerRef, io: ProcessIo) -> Result<(), BackendError> {
        // The container's "main process": greets, then echoes stdin lines until "exit".
        let ProcessIo { stdin, stdout, .. } = io;
        let Some(mut out) = stdout else { return Ok(()) };
        out.write_all(format!("attached to {}\n", container.container).as_bytes()).await.ok();
        if let Some(stdin) = stdin {
            let mut lines = tokio::io::BufReader::new(stdin).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "exit" {
                    break;
                }
                out.write_all(format!("echo: {line}\n").as_bytes()).await.ok();
            }
        }
        out.write_all(b"main process done\n").await.ok();
        Ok(())
    }

    async fn port_forward(&self, _pod: &PodRef, port: u16) -> Result<Box<dyn PortStream>, BackendError> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| BackendError::Internal(format!("dial tcp 127.0.0.1:{port}: {e}")))?;
        Ok(Box::new(tcp))
    }
}

/// A test server with a fake node and its streaming endpoint.
pub struct Cluster {
    pub server: TestServer,
    pub node: Arc<FakeNode>,
    pub kubelet_addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    streaming: Option<StreamingServer>,
    _logs: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            let streaming = self.streaming.take();
            rt.block_on(async move { drop(streaming) });
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A serving certificate for 127.0.0.1 from the test server's server CA.
fn kubelet_serving_cert(tls_dir: &Path) -> (String, String) {
    let ca_key = rcgen::KeyPair::from_pem(&read(&tls_dir.join("server-ca.key"))).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&read(&tls_dir.join("server-ca.crt")), ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), NODE.to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, NODE);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Cluster {
    /// Starts the server, the fake node's endpoint, and registers the Node.
    pub fn start() -> Cluster {
        Self::start_with_access(AccessPolicy::default())
    }

    pub fn start_with_access(access: AccessPolicy) -> Cluster {
        let server = TestServer::start();
        let tls_dir = server.data_dir().join("server/tls");
        let (cert, key) = kubelet_serving_cert(&tls_dir);
        let client_ca = read(&tls_dir.join("client-ca.crt"));
        let logs = tempfile::tempdir().unwrap();
        let (stop_logs, _) = watch::channel(false);
        let node = Arc::new(FakeNode {
            log_dir: logs.path().to_path_buf(),
            stop_logs,
            resizes: Mutex::new(Vec::new()),
            commands: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let config = StreamingServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Arc::new(tls_config(&cert, &key, &client_ca).unwrap()),
            access,
        };
        let streaming = runtime.block_on(StreamingServer::start(config, node.clone())).unwrap();
        let kubelet_addr = streaming.local_addr();
        let cluster =
            Cluster { server, node, kubelet_addr, runtime: Some(runtime), streaming: Some(streaming), _logs: logs };
        cluster.register_node(NODE, kubelet_addr.port());
        cluster
    }

    pub fn register_node(&self, name: &str, port: u16) {
        let manifest = self.server.manifest(
            &format!("node-{name}.yaml"),
            &format!(
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n"
            ),
        );
        self.server.ok(&["create", "-f", super::path_str(&manifest)]);
        let status = serde_json::json!({"status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        }});
        self.server.ok(&["patch", "node", name, "--subresource=status", "--type=merge", "-p", &status.to_string()]);
    }

    /// Creates a running pod bound to `node` with the given containers (`stdin: true` so
    /// that attach -i is allowed).
    pub fn create_pod(&self, name: &str, node: &str, containers: &[&str]) {
        let mut manifest = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n");
        if !node.is_empty() {
            manifest.push_str(&format!("  nodeName: {node}\n"));
        }
        manifest.push_str("  containers:\n");
        for c in containers {
            manifest.push_str(&format!(
                "  - name: {c}\n    image: busybox\n    stdin: true\n    ports:\n    - containerPort: 80\n"
            ));
        }
        let path = self.server.manifest(&format!("pod-{name}.yaml"), &manifest);
        self.server.ok(&["create", "-f", super::path_str(&path)]);
        let statuses: Vec<_> = containers
            .iter()
            .map(|c| {
                serde_json::json!({"name": c, "image": "busybox", "imageID": "", "ready": true, "restartCount": 0,
                "started": true, "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}})
            })
            .collect();
        let status = serde_json::json!({"status": {"phase": "Running", "containerStatuses": statuses}});
        self.server.ok(&["patch", "pod", name, "--subresource=status", "--type=merge", "-p", &status.to_string()]);
    }

    /// Runs a future on the fake node's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().expect("runtime").block_on(f)
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.as_ref().expect("runtime").handle().clone()
    }
}
