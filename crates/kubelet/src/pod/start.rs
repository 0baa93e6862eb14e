//! Bringing a pod up: its volumes, its sandbox, and each container's start as upstream's
//! `startContainer` does it (image, configuration, create, start, postStart hook), with
//! CrashLoopBackOff before restarts and the events and waiting reasons of each step.

use std::time::Duration;

use jiff::Timestamp;
use k3rs_runtime::container::ContainerExit;
use k3rs_runtime::logs::{LogReadOptions, container_log_path, pod_log_dir};
use k3rs_runtime::sandbox::{DnsConfig, HostEntry};
use k3rs_runtime::{RuntimeError, SandboxConfig};
use k8s_openapi::api::core::v1::{Container, Secret};
use tokio::time::Instant;

use super::container_config::{self, ConfigInputs, pod_description};
use super::hooks::{self, HookTarget, POST_START_TIMEOUT};
use super::images::go_duration;
use super::probes::{self, ProbeSetup};
use super::record::{Run, Terminated, Waiting};
use super::sources;
use super::volumes;
use super::worker::{AbortOnDrop, Worker, WorkerMessage};
use crate::events::{EventType, container_reference, pod_reference};
use crate::volumes::dns;

/// How much of the log a `FallbackToLogsOnError` termination message takes (upstream's
/// limits: the last 80 lines, at most 2048 bytes).
const FALLBACK_LOG_LINES: usize = 80;
const FALLBACK_LOG_BYTES: usize = 2048;

/// A wall-clock time as an `Instant` (for back-off arithmetic).
fn instant_of(at: Timestamp) -> Instant {
    let ago = Timestamp::now().duration_since(at);
    let ago = Duration::try_from(ago).unwrap_or(Duration::ZERO);
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

/// The pod's hostname: `spec.hostname`, else its name, cut to 63 characters.
fn hostname(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    let mut cut: String = name.chars().take(63).collect();
    while cut.ends_with('-') || cut.ends_with('.') {
        cut.pop();
    }
    cut
}

/// The pod's own `/etc/hosts` entries (its IPs with its hostname, `hostAliases`) as
/// [`dns::hosts_file`] writes them; the runtime adds the standard localhost block.
fn hosts_entries(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    name: &str,
    namespace: &str,
    pod_ips: &[String],
    domain: &str,
) -> Vec<HostEntry> {
    let standard = dns::hosts_file(&Default::default(), name, namespace, &[], domain);
    let standard: Vec<&str> = standard.lines().collect();
    dns::hosts_file(spec, name, namespace, pod_ips, domain)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#') && !standard.contains(line))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let ip = fields.next()?.to_string();
            Some(HostEntry { ip, hostnames: fields.map(String::from).collect() })
        })
        .collect()
}

/// Turns the runtime's report of an exit into the status's terminated state, reading the
/// log tail for `FallbackToLogsOnError`.
pub(super) async fn terminated_from(
    context: &super::context::Context,
    id: &str,
    exit: ContainerExit,
    started_at: Option<Timestamp>,
    fallback_to_logs: bool,
) -> Terminated {
    let mut message = exit.message.clone().filter(|m| !m.is_empty());
    if message.is_none() && fallback_to_logs && exit.exit_code != 0 {
        let options = LogReadOptions { tail: Some(FALLBACK_LOG_LINES), ..Default::default() };
        if let Ok(mut rx) = context.runtime.read_container_logs(id, options).await {
            let mut text = Vec::new();
            while let Some(Ok(chunk)) = rx.recv().await {
                text.extend_from_slice(&chunk);
            }
            let start = text.len().saturating_sub(FALLBACK_LOG_BYTES);
            let tail = String::from_utf8_lossy(&text[start..]).into_owned();
            message = (!tail.is_empty()).then_some(tail);
        }
    }
    Terminated {
        container_id: id.to_string(),
        exit_code: exit.exit_code,
        reason: exit.reason.as_str().to_string(),
        message,
        started_at,
        finished_at: exit.finished_at,
    }
}

impl Worker {
    /// Sets up (or refreshes) the pod's volumes. False when the pod cannot go on.
    pub(super) async fn ensure_volumes(&mut self) -> bool {
        let due = self.volumes_refreshed.is_none_or(|at| at.elapsed() >= self.context.config.sync_frequency)
            || self.tokens.next_refresh().is_some_and(|at| at <= Timestamp::now());
        if self.volumes.is_some() && !self.refresh_volumes && !due {
            return true;
        }
        let pod = self.pod.clone();
        let snapshot = match sources::fetch(&self.context, &pod, false, Some(&mut self.tokens)).await {
            Ok(snapshot) => snapshot,
            Err(err) => return self.volume_failure(&format!("failed to sync volume sources: {err}")),
        };
        match volumes::set_up(&pod, &self.pod_dir(), &snapshot).await {
            Ok(paths) => {
                self.volumes = Some(paths);
                self.volumes_refreshed = Some(Instant::now());
                self.refresh_volumes = false;
                true
            }
            Err(err) => self.volume_failure(&err.to_string()),
        }
    }

    /// A volume could not be set up: `FailedMount`, and try again later. A pod whose
    /// volumes were set up before keeps running with the previous contents.
    fn volume_failure(&mut self, message: &str) -> bool {
        self.context.recorder.record(&pod_reference(&self.pod), EventType::Warning, "FailedMount", message);
        self.wake(Instant::now() + self.context.config.retry_period);
        self.volumes.is_some()
    }

    /// Creates the sandbox (namespaces, hostname, /etc/hosts, resolv.conf) if needed.
    pub(super) async fn ensure_sandbox(&mut self) -> bool {
        if self.sandbox.is_some() {
            return true;
        }
        let pod = &self.pod;
        let spec = pod.spec.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let config = &self.context.config;
        let resolv = dns::resolv_conf(
            &spec,
            &namespace,
            &self.context.host_resolver,
            &config.cluster_dns,
            &config.cluster_domain,
        );
        let resolver = dns::Resolver::parse(&resolv);
        let name = pod.metadata.name.clone().unwrap_or_default();
        let hosts = hosts_entries(&spec, &name, &namespace, &[], &config.cluster_domain);
        let sandbox_config = SandboxConfig {
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace,
            uid: self.uid.clone(),
            attempt: 0,
            hostname: hostname(pod),
            host_network: spec.host_network == Some(true),
            host_ipc: spec.host_ipc == Some(true),
            host_pid: spec.host_pid == Some(true),
            share_pid: spec.share_process_namespace == Some(true),
            dns: Some(DnsConfig {
                servers: resolver.nameservers,
                searches: resolver.searches,
                options: resolver.options,
            }),
            hosts,
            shm_size: 0,
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            annotations: Default::default(),
        };
        match self.context.runtime.create_sandbox(sandbox_config).await {
            Ok(sandbox) => {
                self.sandbox = Some(sandbox);
                true
            }
            Err(err) => {
                self.context.recorder.record(
                    &pod_reference(&self.pod),
                    EventType::Warning,
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {err}"),
                );
                self.wake(Instant::now() + self.context.config.retry_period);
                false
            }
        }
    }

    /// Whether a container that exited at `finished_at` must wait before its restart
    /// (upstream's `doBackOff`): then it waits in CrashLoopBackOff and a `BackOff` event is
    /// recorded; otherwise the back-off advances and the restart may go ahead.
    pub(super) fn in_crash_backoff(&mut self, name: &str, finished_at: Timestamp) -> bool {
        let key = format!("{}/{name}", self.uid);
        let now = Instant::now();
        let exited = instant_of(finished_at);
        if !self.restart_backoff.in_backoff(&key, exited, now) {
            self.restart_backoff.next(&key, now);
            return false;
        }
        let delay = self.restart_backoff.current(&key, now);
        let pod = pod_description(&self.pod);
        let init = self.container_kind(name).is_init_list();
        self.context.recorder.record(
            &container_reference(&self.pod, name, init),
            EventType::Warning,
            "BackOff",
            format!("Back-off restarting failed container {name} in pod {pod}"),
        );
        if let Some(record) = self.records.get_mut(name) {
            record.waiting = Some(Waiting::new(
                "CrashLoopBackOff",
                format!("back-off {} restarting failed container={name} pod={pod}", go_duration(delay)),
            ));
        }
        self.wake(exited + delay);
        true
    }

    /// The pull secrets of the pod that exist (a missing one is reported and skipped).
    async fn pull_secrets(&self) -> Vec<Secret> {
        let names: Vec<String> = self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.image_pull_secrets.iter().flatten())
            .map(|s| s.name.clone())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Vec::new();
        }
        let namespace = self.pod.metadata.namespace.clone().unwrap_or_default();
        let api: kube::Api<Secret> = kube::Api::namespaced(self.context.client.clone(), &namespace);
        let mut secrets = Vec::new();
        for name in names {
            match api.get_opt(&name).await {
                Ok(Some(secret)) => secrets.push(secret),
                other => {
                    let why = match other {
                        Err(err) => err.to_string(),
                        _ => format!("secret {name:?} not found"),
                    };
                    self.context.recorder.record(
                        &pod_reference(&self.pod),
                        EventType::Warning,
                        "FailedToRetrieveImagePullSecret",
                        format!(
                            "Unable to retrieve some image pull secrets ({name}); attempting to pull the image may not succeed."
                        ),
                    );
                    tracing::debug!(pod = %self.pod_name(), %why, "image pull secret unavailable");
                }
            }
        }
        secrets
    }

    /// A start step failed before a run existed: the container waits with `waiting`.
    fn start_failed(&mut self, name: &str, waiting: Waiting, retry_at: Instant) -> bool {
        if let Some(record) = self.records.get_mut(name) {
            record.waiting = Some(waiting);
        }
        self.wake(retry_at);
        false
    }

    /// Starts (or restarts) a container. True when it runs.
    pub(super) async fn start_container(&mut self, name: &str) -> bool {
        let Some(container) = self.container_spec(name) else { return false };
        let Some(sandbox) = self.sandbox.clone() else { return false };
        let init = self.container_kind(name).is_init_list();
        let reference = container_reference(&self.pod, name, init);
        let recorder = self.context.recorder.clone();
        let retry = Instant::now() + self.context.config.retry_period;

        // Image.
        let secrets = self.pull_secrets().await;
        let image = match self.images.ensure(&self.context, &container, &reference, &secrets).await {
            Ok(image) => image,
            Err(waiting) => {
                // After a failed pull, sync again soon to show ImagePullBackOff, then
                // when the back-off ends to pull again.
                let image_name = container.image.clone().unwrap_or_default();
                let at = match (waiting.reason.as_str(), self.images.backoff_until(&image_name)) {
                    ("ErrImagePull", Some(until)) => until.min(Instant::now() + Duration::from_secs(1)),
                    (_, Some(until)) => until,
                    _ => retry,
                };
                return self.start_failed(name, waiting, at);
            }
        };

        // Configuration.
        let config_error = |worker: &mut Worker, message: String| {
            recorder.record(&reference, EventType::Warning, "Failed", format!("Error: {message}"));
            worker.start_failed(name, Waiting::new("CreateContainerConfigError", message), retry)
        };
        let pod = self.pod.clone();
        let snapshot = match sources::fetch(&self.context, &pod, true, None).await {
            Ok(snapshot) => snapshot,
            Err(err) => return config_error(self, err),
        };
        let env = match crate::env::build(
            &pod,
            &container,
            &snapshot.services,
            &snapshot,
            &self.context.config.node_allocatable,
        ) {
            Ok(env) => env,
            Err(err) => return config_error(self, err),
        };
        let restart_count = self.records.get(name).map(|r| r.next_restart_count()).unwrap_or(0);
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let log_dir = pod_log_dir(&self.context.config.pod_log_dir, &namespace, &pod_name, &self.uid);
        let volumes = self.volumes.clone().unwrap_or_default();
        let node_memory = self
            .context
            .config
            .node_allocatable
            .memory
            .as_deref()
            .and_then(k3rs_api::kinds::common::quantity::Quantity::parse)
            .map(|q| q.value().max(0) as u64)
            .unwrap_or(0);
        let built = match container_config::build(ConfigInputs {
            pod: &pod,
            container: &container,
            env,
            volumes: &volumes,
            log_path: container_log_path(&log_dir, name, restart_count),
            restart_count,
            node_memory_bytes: node_memory,
            oom_score_adj_floor: self.context.oom_score_adj_floor,
        }) {
            Ok(built) => built,
            Err(err) => return config_error(self, err),
        };
        let subpaths = built.subpath_dirs.clone();
        let made = tokio::task::spawn_blocking(move || {
            for dir in subpaths {
                if !dir.exists() {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("creating subPath {}: {e}", dir.display()))?;
                }
            }
            Ok::<(), String>(())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(err) = made {
            return config_error(self, err);
        }

        // Create.
        let id = match self.context.runtime.create_container(&sandbox.id, built.config).await {
            Ok(id) => id,
            Err(RuntimeError::InvalidConfig(message)) if message.contains("runAsNonRoot") => {
                let message = format!(
                    "container has runAsNonRoot and image will run as root (pod: {:?}, container: {name})",
                    pod_description(&pod)
                );
                return config_error(self, message);
            }
            Err(err) => {
                recorder.record(&reference, EventType::Warning, "Failed", format!("Error: {err}"));
                return self.start_failed(name, Waiting::new("CreateContainerError", err.to_string()), retry);
            }
        };
        recorder.record(&reference, EventType::Normal, "Created", format!("Created container: {name}"));

        // Start.
        let image_id = if image.repo_digest.is_empty() { image.id.clone() } else { image.repo_digest.clone() };
        let spec_image = container.image.clone().unwrap_or_default();
        let now = Timestamp::now();
        if let Err(err) = self.context.runtime.start_container(&id).await {
            recorder.record(&reference, EventType::Warning, "Failed", format!("Error: {err}"));
            // The run happened and failed, as containerd reports a StartError.
            let exit = Terminated {
                container_id: id.clone(),
                exit_code: 128,
                reason: "StartError".to_string(),
                message: Some(err.to_string()),
                started_at: None,
                finished_at: Timestamp::now(),
            };
            if let Some(record) = self.records.get_mut(name) {
                let run = Run {
                    id: id.clone(),
                    image: spec_image,
                    image_id,
                    started_at: now,
                    post_start_done: true,
                    exit: Some(exit),
                };
                let retired = record.begin_run(run, restart_count);
                self.retire(retired);
            }
            // The next sync restarts it, subject to the back-off.
            self.wake(Instant::now());
            return false;
        }
        recorder.record(&reference, EventType::Normal, "Started", format!("Started container {name}"));
        // The runtime's start time, which a re-adopting kubelet reads back too.
        let now = match self.context.runtime.container_status(&id).await {
            Ok(status) => status.started_at.unwrap_or(now),
            Err(_) => now,
        };
        let post_start = container.lifecycle.as_ref().and_then(|l| l.post_start.clone());
        if let Some(record) = self.records.get_mut(name) {
            let run = Run {
                id: id.clone(),
                image: spec_image,
                image_id,
                started_at: now,
                post_start_done: post_start.is_none(),
                exit: None,
            };
            let retired = record.begin_run(run, restart_count);
            self.retire(retired);
        }
        self.watch_exit(name, &id, &container, Some(now));

        // postStart: the container is not Running until it is done; a failure kills it.
        if let Some(handler) = post_start {
            let dialer = self.dialer();
            let pod_host = self.pod_host();
            let target = HookTarget {
                runtime: &self.context.runtime,
                container_id: &id,
                pod: &pod,
                container: &container,
                pod_host: &pod_host,
                dialer: &dialer,
            };
            if let Err(err) = hooks::run(&target, &handler, POST_START_TIMEOUT).await {
                tracing::warn!(pod = %self.pod_name(), container = %name, %err, "postStart hook failed");
                recorder.record(&reference, EventType::Warning, "FailedPostStartHook", "PostStartHook failed");
                self.kill_container(name, Some("FailedPostStartHook".to_string()), None).await;
                return false;
            }
            match self.records.get_mut(name).and_then(|r| r.run.as_mut()).filter(|r| r.id == id) {
                Some(run) => run.post_start_done = true,
                None => return false,
            }
        }
        self.begin_probing(name, &container, &id, Instant::now(), false, false);
        self.records.get(name).and_then(|r| r.running_id()).is_some()
    }

    /// Removes a run that is no longer reported (upstream keeps one dead container per
    /// name): its container, snapshot and log file.
    fn retire(&self, id: Option<String>) {
        let Some(id) = id else { return };
        let runtime = self.context.runtime.clone();
        tokio::spawn(async move {
            let log = runtime.container_status(&id).await.ok().map(|s| s.log_path);
            if let Err(err) = runtime.remove_container(&id).await {
                tracing::warn!(container = %id, %err, "removing an old container failed");
                return;
            }
            if let Some(log) = log.filter(|p| !p.as_os_str().is_empty()) {
                let _ = tokio::fs::remove_file(log).await;
            }
        });
    }

    /// Watches a run for its exit.
    pub(super) fn watch_exit(&mut self, name: &str, id: &str, container: &Container, started_at: Option<Timestamp>) {
        let context = self.context.clone();
        let tx = self.tx.clone();
        let (name, id_owned) = (name.to_string(), id.to_string());
        let fallback = container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
        let task = tokio::spawn(async move {
            match context.runtime.wait_container(&id_owned).await {
                Ok(exit) => {
                    let exit = terminated_from(&context, &id_owned, exit, started_at, fallback).await;
                    let _ = tx.send(WorkerMessage::Exited { name, id: id_owned, exit });
                }
                Err(err) => tracing::debug!(container = %id_owned, %err, "waiting for the container failed"),
            }
        });
        self.exit_watchers.insert(id.to_string(), AbortOnDrop(task));
    }

    /// Marks a running container started/ready as far as its probes allow, and starts them.
    pub(super) fn begin_probing(
        &mut self,
        name: &str,
        container: &Container,
        id: &str,
        started_at: Instant,
        already_started: bool,
        already_ready: bool,
    ) {
        let started = container.startup_probe.is_none() || already_started;
        let ready = started && (container.readiness_probe.is_none() || already_ready);
        if let Some(record) = self.records.get_mut(name) {
            record.started = started;
            record.ready = ready;
        }
        let init = self.container_kind(name).is_init_list();
        let setup = ProbeSetup {
            context: self.context.clone(),
            reference: container_reference(&self.pod, name, init),
            container: container.clone(),
            container_id: id.to_string(),
            started_at,
            pod_host: self.pod_host(),
            dialer: self.dialer(),
            already_started: started,
            already_ready: ready,
            worker: self.tx.clone(),
        };
        match probes::spawn(setup) {
            Some(handle) => {
                self.probes.insert(name.to_string(), handle);
            }
            None => {
                self.probes.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosts_entries_are_the_pods_own_lines() {
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(json!({"containers": [],
            "hostname": "web-0", "subdomain": "web",
            "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]}))
        .unwrap();
        let entries = hosts_entries(&spec, "p", "ns", &["10.42.0.5".into()], "cluster.local");
        assert_eq!(
            entries,
            vec![
                HostEntry {
                    ip: "10.42.0.5".into(),
                    hostnames: vec!["web-0.web.ns.svc.cluster.local".into(), "web-0".into()]
                },
                HostEntry { ip: "10.1.2.3".into(), hostnames: vec!["foo.local".into(), "bar.local".into()] },
            ]
        );
        assert!(hosts_entries(&Default::default(), "p", "ns", &[], "cluster.local").is_empty());
    }

    #[test]
    fn hostnames_are_cut_to_63_characters() {
        let pod: k8s_openapi::api::core::v1::Pod =
            serde_json::from_value(json!({"metadata": {"name": format!("{}-x", "a".repeat(62))}})).unwrap();
        assert_eq!(hostname(&pod), "a".repeat(62));
    }
}
