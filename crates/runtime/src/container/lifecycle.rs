//! Container lifecycle on [`Runtime`]: create (snapshot, spec, containerd container),
//! start (FIFOs, task, log pump, exit monitor), stop (signal, grace period, SIGKILL),
//! remove, wait, status, list, and re-adoption after an agent restart.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use containerd_client::services::v1::container::Runtime as ContainerRuntime;
use containerd_client::services::v1::snapshots::{MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest};
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest, DeleteTaskRequest,
    GetContainerRequest, GetRequest, KillRequest, ListContainersRequest, ListTasksRequest, StartRequest,
    UpdateContainerRequest,
};
use containerd_client::types::v1::Status as TaskStatus;
use tokio::sync::watch;

use super::config::ContainerConfig;
use super::labels;
use super::monitor::{Live, spawn_monitor};
use super::spec::{SpecInputs, build};
use super::status::{ContainerExit, ContainerState, ContainerStatus, PodRef, recorded_exit, timestamp_label};
use super::user::{self, IdFiles};
use crate::containerd::{Lease, runc_options};
use crate::error::{Result, RuntimeError, StatusExt, is_not_found};
use crate::image::ImageRef;
use crate::io::fifo;
use crate::io::pump::Pump;
use crate::logs::LogWriter;
use crate::runtime::{Runtime, blocking};

/// The type URL containerd expects for a JSON runtime spec.
pub(crate) const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
/// Largest termination message kept (Kubernetes' limit).
const MAX_TERMINATION_MESSAGE: u64 = 4096;

/// Which containers to list.
#[derive(Clone, Debug, Default)]
pub struct ContainerFilter {
    pub sandbox_id: Option<String>,
    pub pod_uid: Option<String>,
    pub name: Option<String>,
    /// Other labels that must match exactly.
    pub labels: BTreeMap<String, String>,
}

/// Refuses ids that containerd would refuse (and that could escape the run directory):
/// alphanumeric runs joined by single `.`, `_` or `-`.
fn check_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.len() <= 76
        && id.split(['.', '_', '-']).all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if valid { Ok(()) } else { Err(RuntimeError::ContainerNotFound(id.to_string())) }
}

/// A containerd filter string value, quoted.
fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

impl ContainerFilter {
    fn containerd_filter(&self) -> String {
        let mut wanted: BTreeMap<&str, &str> = BTreeMap::from([(labels::MANAGED_BY, labels::MANAGER)]);
        if let Some(id) = &self.sandbox_id {
            wanted.insert(labels::SANDBOX_ID, id);
        }
        if let Some(uid) = &self.pod_uid {
            wanted.insert(labels::POD_UID, uid);
        }
        if let Some(name) = &self.name {
            wanted.insert(labels::CONTAINER_NAME, name);
        }
        for (key, value) in &self.labels {
            wanted.insert(key, value);
        }
        wanted.iter().map(|(k, v)| format!("labels.{}=={}", quote(k), quote(v))).collect::<Vec<_>>().join(",")
    }
}

fn to_btree(labels: HashMap<String, String>) -> BTreeMap<String, String> {
    labels.into_iter().collect()
}

impl Runtime {
    fn container_dir(&self, id: &str) -> PathBuf {
        self.run_dir().join("containers").join(id)
    }

    fn container_cgroup(&self, sandbox_id: &str, id: &str) -> String {
        format!("{}/{id}", self.sandbox_cgroup(sandbox_id))
    }

    pub(crate) async fn get_container(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let containerd = self.containerd();
        match containerd.containers().get(containerd.request(GetContainerRequest { id: id.to_string() })).await {
            Ok(response) => {
                response.into_inner().container.ok_or_else(|| RuntimeError::ContainerNotFound(id.to_string()))
            }
            Err(status) if is_not_found(&status) => Err(RuntimeError::ContainerNotFound(id.to_string())),
            Err(status) => Err(RuntimeError::Containerd { op: "get container", status }),
        }
    }

    /// Sets labels on a containerd container, keeping the others.
    pub(crate) async fn set_labels(&self, id: &str, labels: BTreeMap<String, String>) -> Result<()> {
        let containerd = self.containerd();
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        let request = UpdateContainerRequest {
            container: Some(Container {
                id: id.to_string(),
                labels: labels.into_iter().collect(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths }),
        };
        containerd.containers().update(containerd.request(request)).await.op("update container")?;
        Ok(())
    }

    /// The termination message the container wrote, if any.
    pub(crate) async fn termination_message(&self, id: &str) -> Option<String> {
        let path = self.container_dir(id).join("termination-log");
        let data = blocking(move || {
            use std::io::Read;
            let mut data = Vec::new();
            if let Ok(file) = std::fs::File::open(&path) {
                let _ = file.take(MAX_TERMINATION_MESSAGE).read_to_end(&mut data);
            }
            Ok(data)
        })
        .await
        .ok()?;
        (!data.is_empty()).then(|| String::from_utf8_lossy(&data).into_owned())
    }

    /// Creates a container in a sandbox from a present image. Returns the container id.
    pub async fn create_container(&self, sandbox_id: &str, config: ContainerConfig) -> Result<String> {
        let sandbox = self.sandbox(sandbox_id).await?;
        let name = ImageRef::parse(&config.image)?.to_string();
        let image = crate::image::resolve(self.containerd(), &name).await?;
        let id = crate::sandbox::new_id();
        let dir = self.container_dir(&id);
        let termination_log = dir.join("termination-log");
        {
            let (dir, termination_log) = (dir.clone(), termination_log.clone());
            blocking(move || {
                use std::os::unix::fs::PermissionsExt;
                std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create directory", &dir, e))?;
                std::fs::File::create(&termination_log).map_err(|e| RuntimeError::io("create", &termination_log, e))?;
                // Any user the container runs as must be able to write its message.
                std::fs::set_permissions(&termination_log, std::fs::Permissions::from_mode(0o666))
                    .map_err(|e| RuntimeError::io("chmod", &termination_log, e))
            })
            .await?;
        }
        let lease = Lease::create(self.containerd(), "create").await?;
        let result = self.create_with_lease(&lease.id, &id, &sandbox, &config, &image, &termination_log).await;
        if let Err(err) = lease.release(self.containerd()).await {
            tracing::warn!(%err, "releasing the create lease failed; it expires by itself");
        }
        if result.is_err() {
            let containerd = self.containerd();
            let remove = RemoveSnapshotRequest { snapshotter: self.config().snapshotter.clone(), key: id.clone() };
            let _ = containerd.snapshots().remove(containerd.request(remove)).await;
            let _ = tokio::fs::remove_dir_all(&dir).await;
        }
        result.map(|()| id)
    }

    async fn create_with_lease(
        &self,
        lease: &str,
        id: &str,
        sandbox: &crate::sandbox::Sandbox,
        config: &ContainerConfig,
        image: &crate::image::ResolvedImage,
        termination_log: &Path,
    ) -> Result<()> {
        let containerd = self.containerd();
        let snapshotter = self.config().snapshotter.clone();
        let prepare = PrepareSnapshotRequest {
            snapshotter: snapshotter.clone(),
            key: id.to_string(),
            parent: image.chain_id.clone(),
            labels: HashMap::new(),
        };
        let mounts = containerd
            .snapshots()
            .prepare(containerd.leased_request(prepare, lease))
            .await
            .op("prepare snapshot")?
            .into_inner()
            .mounts;

        let defaults = image.config.config.clone();
        let image_user = defaults.as_ref().and_then(|d| d.user.clone()).unwrap_or_default();
        let security = &config.security;
        let files = if user::needs_id_files(security.run_as_user, security.run_as_group, &image_user) {
            let scratch = self.container_dir(id).join("rootfs-view");
            blocking(move || read_id_files(&mounts, &scratch)).await?
        } else {
            IdFiles::default()
        };
        let user = user::resolve(
            security.run_as_user,
            security.run_as_group,
            &security.supplemental_groups,
            &image_user,
            &files,
        )?;
        let spec = build(&SpecInputs {
            config,
            image: defaults.as_ref(),
            sandbox,
            user,
            termination_log: config.termination_message_path.as_ref().map(|_| termination_log),
            cgroups_path: self.container_cgroup(&sandbox.id, id),
            cgroup_v2: crate::cgroups::is_v2(),
        })?;
        let spec_json =
            serde_json::to_vec(&spec).map_err(|e| RuntimeError::InvalidConfig(format!("encoding spec: {e}")))?;

        let stop_signal = config
            .stop_signal
            .clone()
            .or_else(|| defaults.as_ref().and_then(|d| d.stop_signal.clone()))
            .unwrap_or_else(|| "SIGTERM".to_string());
        signal_number(&stop_signal)?;
        let mut all_labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
        all_labels.extend([
            (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
            (labels::POD_NAME.to_string(), sandbox.config.name.clone()),
            (labels::POD_NAMESPACE.to_string(), sandbox.config.namespace.clone()),
            (labels::POD_UID.to_string(), sandbox.config.uid.clone()),
            (labels::CONTAINER_NAME.to_string(), config.name.clone()),
            (labels::RESTART_COUNT.to_string(), config.restart_count.to_string()),
            (labels::SANDBOX_ID.to_string(), sandbox.id.clone()),
            (labels::LOG_PATH.to_string(), config.log_path.to_string_lossy().into_owned()),
            (labels::IMAGE_REF.to_string(), config.image.clone()),
            (labels::IMAGE_ID.to_string(), image.config_digest.clone()),
            (labels::STOP_SIGNAL.to_string(), stop_signal),
            (labels::STDIN.to_string(), config.stdin.to_string()),
            (labels::TTY.to_string(), config.tty.to_string()),
            (labels::CREATED_AT.to_string(), jiff::Timestamp::now().to_string()),
        ]);
        let container = Container {
            id: id.to_string(),
            labels: all_labels,
            image: image.name.clone(),
            runtime: Some(ContainerRuntime {
                name: self.config().runtime_handler.clone(),
                options: Some(runc_options(&self.run_dir().join("runc"))),
            }),
            spec: Some(prost_types::Any { type_url: SPEC_TYPE_URL.to_string(), value: spec_json }),
            snapshotter,
            snapshot_key: id.to_string(),
            ..Default::default()
        };
        let request = CreateContainerRequest { container: Some(container) };
        containerd.containers().create(containerd.leased_request(request, lease)).await.op("create container")?;
        Ok(())
    }

    /// Starts a created container: its task runs, its output goes to its log file.
    pub async fn start_container(&self, id: &str) -> Result<u32> {
        let container = self.get_container(id).await?;
        let labels = to_btree(container.labels.clone());
        if labels.contains_key(labels::STARTED_AT) {
            return Err(RuntimeError::InvalidState {
                id: id.to_string(),
                reason: "already started; create a new container to run it again".into(),
            });
        }
        let containerd = self.containerd();
        let mounts = containerd
            .snapshots()
            .mounts(containerd.request(MountsRequest {
                snapshotter: container.snapshotter.clone(),
                key: container.snapshot_key.clone(),
            }))
            .await
            .op("snapshot mounts")?
            .into_inner()
            .mounts;
        let tty = labels.get(labels::TTY).is_some_and(|v| v == "true");
        let stdin = labels.get(labels::STDIN).is_some_and(|v| v == "true");
        let log_path = PathBuf::from(labels.get(labels::LOG_PATH).cloned().unwrap_or_default());
        let dir = self.container_dir(id);
        let rotation = self.config().log_rotation;
        let io = blocking(move || ContainerIo::open(&dir, tty, stdin, &log_path, rotation, true)).await?;
        let request = CreateTaskRequest {
            container_id: id.to_string(),
            rootfs: mounts,
            stdin: io.stdin_path.clone(),
            stdout: io.stdout_path.clone(),
            stderr: io.stderr_path.clone(),
            terminal: tty,
            ..Default::default()
        };
        containerd.tasks().create(containerd.request(request)).await.op("create task")?;
        let (live, exit_tx, pump_done) = match io.into_live(id, tty) {
            Ok(parts) => parts,
            Err(err) => {
                let _ = containerd
                    .tasks()
                    .delete(containerd.request(DeleteTaskRequest { container_id: id.to_string() }))
                    .await;
                return Err(err);
            }
        };
        let started = containerd
            .tasks()
            .start(containerd.request(StartRequest { container_id: id.to_string(), exec_id: String::new() }))
            .await;
        let pid = match started {
            Ok(response) => response.into_inner().pid,
            Err(status) => {
                live.detach();
                let _ = containerd
                    .tasks()
                    .delete(containerd.request(DeleteTaskRequest { container_id: id.to_string() }))
                    .await;
                return Err(RuntimeError::Containerd { op: "start task", status });
            }
        };
        self.set_labels(id, BTreeMap::from([(labels::STARTED_AT.to_string(), jiff::Timestamp::now().to_string())]))
            .await?;
        let sandbox_id = labels.get(labels::SANDBOX_ID).cloned().unwrap_or_default();
        self.watch(id, live, self.container_cgroup(&sandbox_id, id), pump_done, exit_tx);
        Ok(pid)
    }

    /// Registers a live container and starts its exit monitor.
    fn watch(
        &self,
        id: &str,
        live: Live,
        cgroup: String,
        pump_done: Option<watch::Receiver<bool>>,
        exit_tx: watch::Sender<Option<ContainerExit>>,
    ) {
        let live = Arc::new(live);
        if let Ok(mut map) = self.inner.live.lock() {
            map.insert(id.to_string(), live.clone());
        }
        let handle = spawn_monitor(self, id, cgroup, pump_done, exit_tx);
        if let Ok(mut monitor) = live.monitor.lock() {
            *monitor = Some(handle);
        }
    }

    pub(crate) fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.inner.live.lock().ok().and_then(|map| map.get(id).cloned())
    }

    /// Waits until the container has exited and returns how. A container that never ran
    /// is an error.
    pub async fn wait_container(&self, id: &str) -> Result<ContainerExit> {
        if let Some(live) = self.live(id) {
            let mut exit = live.exit.clone();
            if let Ok(exit) = exit.wait_for(|e| e.is_some()).await
                && let Some(exit) = exit.clone()
            {
                return Ok(exit);
            }
        }
        let status = self.container_status(id).await?;
        status.exit.ok_or_else(|| RuntimeError::InvalidState {
            id: id.to_string(),
            reason: "not running and no exit recorded".into(),
        })
    }

    /// Stops a container: its stop signal, then SIGKILL after `grace`. Returns the exit.
    /// Stopping an exited container just returns its exit.
    pub async fn stop_container(&self, id: &str, grace: Duration) -> Result<ContainerExit> {
        let container = self.get_container(id).await?;
        let Some(live) = self.live(id) else {
            return self.wait_container(id).await;
        };
        if live.exit.borrow().is_none() {
            let signal = container
                .labels
                .get(labels::STOP_SIGNAL)
                .map(|s| signal_number(s))
                .transpose()?
                .unwrap_or(libc::SIGTERM);
            let mut exit = live.exit.clone();
            let signalled = if grace.is_zero() { Ok(false) } else { self.kill(id, signal, false).await.map(|()| true) };
            let stopped = match signalled? {
                true => tokio::time::timeout(grace, exit.wait_for(|e| e.is_some())).await.is_ok(),
                false => false,
            };
            if !stopped {
                self.kill(id, libc::SIGKILL, true).await?;
            }
        }
        self.wait_container(id).await
    }

    /// Sends a signal to the container's main process (`all`: to every process of it).
    pub async fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let containerd = self.containerd();
        let request = KillRequest { container_id: id.to_string(), exec_id: String::new(), signal: signal as u32, all };
        match containerd.tasks().kill(containerd.request(request)).await {
            Ok(_) => Ok(()),
            // No task or already exited: nothing to signal.
            Err(status) if is_not_found(&status) => Ok(()),
            Err(status) if status.message().contains("process already finished") => Ok(()),
            Err(status) => Err(RuntimeError::Containerd { op: "kill task", status }),
        }
    }

    /// Removes a container: kills it if it runs, deletes its task, record, snapshot and
    /// FIFOs. The log file stays (the kubelet removes pod log directories).
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let containerd = self.containerd();
        if let Some(live) = self.live(id) {
            if live.exit.borrow().is_none() {
                self.kill(id, libc::SIGKILL, true).await?;
                let mut exit = live.exit.clone();
                let _ = tokio::time::timeout(Duration::from_secs(30), exit.wait_for(|e| e.is_some())).await;
            }
            live.detach();
            if let Ok(mut map) = self.inner.live.lock() {
                map.remove(id);
            }
        }
        // A task left behind (created but never started, or not watched): kill and delete it.
        if containerd
            .tasks()
            .get(containerd.request(GetRequest { container_id: id.to_string(), exec_id: String::new() }))
            .await
            .is_ok()
        {
            self.kill(id, libc::SIGKILL, true).await?;
            let _ = tokio::time::timeout(Duration::from_secs(10), super::monitor::wait_task(containerd, id)).await;
            match containerd
                .tasks()
                .delete(containerd.request(DeleteTaskRequest { container_id: id.to_string() }))
                .await
            {
                Ok(_) => {}
                Err(status) if is_not_found(&status) => {}
                Err(status) => return Err(RuntimeError::Containerd { op: "delete task", status }),
            }
        }
        let snapshotter = match self.get_container(id).await {
            Ok(container) => Some((container.snapshotter, container.snapshot_key)),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err),
        };
        match containerd.containers().delete(containerd.request(DeleteContainerRequest { id: id.to_string() })).await {
            Ok(_) => {}
            Err(status) if is_not_found(&status) => {}
            Err(status) => return Err(RuntimeError::Containerd { op: "delete container", status }),
        }
        if let Some((snapshotter, key)) = snapshotter.filter(|(_, key)| !key.is_empty()) {
            let request = RemoveSnapshotRequest { snapshotter, key };
            match containerd.snapshots().remove(containerd.request(request)).await {
                Ok(_) => {}
                Err(status) if is_not_found(&status) => {}
                Err(status) => return Err(RuntimeError::Containerd { op: "remove snapshot", status }),
            }
        }
        let dir = self.container_dir(id);
        blocking(move || {
            let _ = crate::mounts::unmount_all_under(&dir);
            match std::fs::remove_dir_all(&dir) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::io("remove", &dir, err)),
                _ => Ok(()),
            }
        })
        .await
    }

    /// The status of one container.
    pub async fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        let container = self.get_container(id).await?;
        let containerd = self.containerd();
        let task = match containerd
            .tasks()
            .get(containerd.request(GetRequest { container_id: id.to_string(), exec_id: String::new() }))
            .await
        {
            Ok(response) => response.into_inner().process,
            Err(status) if is_not_found(&status) => None,
            Err(status) => return Err(RuntimeError::Containerd { op: "get task", status }),
        };
        let message = self.termination_message(id).await;
        Ok(status_of(container, task.as_ref(), message))
    }

    /// The containers matching a filter (all k3rs containers with the default filter).
    pub async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<ContainerStatus>> {
        let containerd = self.containerd();
        let request = ListContainersRequest { filters: vec![filter.containerd_filter()] };
        let containers = containerd
            .containers()
            .list(containerd.request(request))
            .await
            .op("list containers")?
            .into_inner()
            .containers;
        let tasks = containerd
            .tasks()
            .list(containerd.request(ListTasksRequest { filter: String::new() }))
            .await
            .op("list tasks")?
            .into_inner()
            .tasks;
        let tasks: HashMap<String, _> = tasks.into_iter().map(|t| (t.id.clone(), t)).collect();
        let mut statuses = Vec::with_capacity(containers.len());
        for container in containers {
            let message = self.termination_message(&container.id).await;
            let task = tasks.get(&container.id);
            statuses.push(status_of(container, task, message));
        }
        statuses.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(statuses)
    }

    /// Reads a container's log file (see [`crate::logs::read_log`]). When following, the
    /// stream ends once the container has exited and its last lines were read.
    pub async fn read_container_logs(
        &self,
        id: &str,
        options: crate::logs::LogReadOptions,
    ) -> Result<tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>> {
        let container = self.get_container(id).await?;
        let log_path = PathBuf::from(container.labels.get(labels::LOG_PATH).cloned().unwrap_or_default());
        let stop = match self.live(id).and_then(|live| live.pump.as_ref().map(|pump| pump.done.clone())) {
            Some(done) => done,
            // Not running: there is nothing more to wait for.
            None => watch::channel(true).1,
        };
        Ok(crate::logs::read_log(log_path, options, Some(stop)))
    }

    /// Waits until everything the container wrote is in its log file: until its output
    /// pump ended (the container exited and its last lines were written), at once for a
    /// container whose output this runtime does not pump (it is not running). A follower of
    /// the log file stops after this.
    pub async fn wait_output_logged(&self, id: &str) {
        let Some(mut done) = self.live(id).and_then(|live| live.pump.as_ref().map(|pump| pump.done.clone())) else {
            return;
        };
        let _ = done.wait_for(|done| *done).await;
    }

    /// Re-adopts the containers of an earlier run: running ones get their log pump and exit
    /// monitor back; tasks that exited meanwhile have their exit recorded; tasks created but
    /// never started are deleted (the container can be started again).
    pub(crate) async fn recover(&self) -> Result<()> {
        for status in self.list_containers(&ContainerFilter::default()).await? {
            let id = status.id.clone();
            let containerd = self.containerd();
            let task = containerd
                .tasks()
                .get(containerd.request(GetRequest { container_id: id.clone(), exec_id: String::new() }))
                .await
                .ok()
                .and_then(|r| r.into_inner().process);
            let Some(task) = task else { continue };
            if task.status == TaskStatus::Created as i32 {
                self.kill(&id, libc::SIGKILL, true).await?;
                let _ =
                    containerd.tasks().delete(containerd.request(DeleteTaskRequest { container_id: id.clone() })).await;
                continue;
            }
            let tty = status.labels.get(labels::TTY).is_some_and(|v| v == "true");
            let stdin = status.labels.get(labels::STDIN).is_some_and(|v| v == "true");
            let dir = self.container_dir(&id);
            let log_path = status.log_path.clone();
            let rotation = self.config().log_rotation;
            let io = blocking(move || ContainerIo::open(&dir, tty, stdin, &log_path, rotation, false)).await;
            let (live, exit_tx, pump_done) = match io.and_then(|io| io.into_live(&id, tty)) {
                Ok(parts) => parts,
                Err(err) => {
                    tracing::warn!(%id, %err, "cannot reopen the container's output; its logs stop here");
                    let (exit_tx, exit) = watch::channel(None);
                    (Live { exit, pump: None, stdin: None, tty, monitor: Mutex::new(None) }, exit_tx, None)
                }
            };
            tracing::info!(%id, name = %status.name, pod = %status.pod.name, "re-adopted container");
            self.watch(&id, live, self.container_cgroup(&status.sandbox_id, &id), pump_done, exit_tx);
        }
        Ok(())
    }
}

/// Reads `/etc/passwd` and `/etc/group` of a prepared root file system by mounting it
/// read-only at `scratch` for a moment.
fn read_id_files(mounts: &[containerd_client::types::Mount], scratch: &Path) -> Result<IdFiles> {
    std::fs::create_dir_all(scratch).map_err(|e| RuntimeError::io("create directory", scratch, e))?;
    crate::mounts::mount_snapshot_read_only(mounts, scratch)
        .map_err(|e| RuntimeError::io("mount root file system", scratch, e))?;
    let files = IdFiles {
        passwd: std::fs::read_to_string(scratch.join("etc/passwd")).unwrap_or_default(),
        group: std::fs::read_to_string(scratch.join("etc/group")).unwrap_or_default(),
    };
    crate::mounts::unmount(scratch).map_err(|e| RuntimeError::io("unmount", scratch, e))?;
    let _ = std::fs::remove_dir(scratch);
    Ok(files)
}

/// A live container, the sender of its exit, and the "log pump done" signal.
type Watched = (Live, watch::Sender<Option<ContainerExit>>, Option<watch::Receiver<bool>>);

/// The FIFOs of a container's main process, opened, with its log writer.
struct ContainerIo {
    stdin_path: String,
    stdout_path: String,
    stderr_path: String,
    stdin: Option<std::fs::File>,
    stdout: std::fs::File,
    stderr: Option<std::fs::File>,
    writer: LogWriter,
}

impl ContainerIo {
    /// Creates (when `create`) and opens the FIFOs in `dir`.
    fn open(
        dir: &Path,
        tty: bool,
        stdin: bool,
        log_path: &Path,
        rotation: crate::logs::LogRotation,
        create: bool,
    ) -> Result<ContainerIo> {
        let path = |name: &str| dir.join(name);
        let make = |p: &Path| -> Result<()> {
            if create { fifo::mkfifo(p).map_err(|e| RuntimeError::io("mkfifo", p, e)) } else { Ok(()) }
        };
        make(&path("stdout"))?;
        if !tty {
            make(&path("stderr"))?;
        }
        if stdin {
            make(&path("stdin"))?;
        }
        let stdout = fifo::open_reader(&path("stdout")).map_err(|e| RuntimeError::io("open", path("stdout"), e))?;
        let stderr = if tty {
            None
        } else {
            Some(fifo::open_reader(&path("stderr")).map_err(|e| RuntimeError::io("open", path("stderr"), e))?)
        };
        let stdin_file = if stdin {
            Some(fifo::open_read_write(&path("stdin")).map_err(|e| RuntimeError::io("open", path("stdin"), e))?)
        } else {
            None
        };
        let writer = LogWriter::open(log_path, rotation).map_err(|e| RuntimeError::io("open log", log_path, e))?;
        let string = |p: PathBuf| p.to_string_lossy().into_owned();
        Ok(ContainerIo {
            stdin_path: if stdin { string(path("stdin")) } else { String::new() },
            stdout_path: string(path("stdout")),
            stderr_path: if tty { String::new() } else { string(path("stderr")) },
            stdin: stdin_file,
            stdout,
            stderr,
            writer,
        })
    }

    /// Starts the log pump.
    fn into_live(self, id: &str, tty: bool) -> Result<Watched> {
        let pump = Pump::start(id, self.stdout, self.stderr, self.writer)
            .map_err(|e| RuntimeError::io("start log pump", "", e))?;
        let done = pump.done.clone();
        let (exit_tx, exit) = watch::channel(None);
        let live = Live { exit, pump: Some(pump), stdin: self.stdin.map(Arc::new), tty, monitor: Mutex::new(None) };
        Ok((live, exit_tx, Some(done)))
    }
}

/// A signal by name (`SIGTERM`, `TERM`) or number.
pub fn signal_number(signal: &str) -> Result<i32> {
    let name = signal.trim().to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    if let Ok(number) = name.parse::<i32>() {
        return if (1..=64).contains(&number) {
            Ok(number)
        } else {
            Err(RuntimeError::InvalidConfig(format!("invalid signal {signal:?}")))
        };
    }
    let number = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "WINCH" => libc::SIGWINCH,
        "PWR" => libc::SIGPWR,
        "ABRT" => libc::SIGABRT,
        "ALRM" => libc::SIGALRM,
        _ => return Err(RuntimeError::InvalidConfig(format!("unknown signal {signal:?}"))),
    };
    Ok(number)
}

/// Builds a status from the containerd container, its task (if any) and its termination message.
fn status_of(
    container: Container,
    task: Option<&containerd_client::types::v1::Process>,
    message: Option<String>,
) -> ContainerStatus {
    let labels = to_btree(container.labels);
    let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
    let recorded = recorded_exit(&labels, message.clone());
    let started_at = timestamp_label(&labels, labels::STARTED_AT);
    let (state, pid, exit) = match (&recorded, task) {
        (Some(exit), _) => (ContainerState::Exited, None, Some(exit.clone())),
        (None, Some(task)) if task.status == TaskStatus::Running as i32 || task.status == TaskStatus::Paused as i32 => {
            (ContainerState::Running, Some(task.pid), None)
        }
        (None, Some(task)) if task.status == TaskStatus::Stopped as i32 => {
            let exit_code = task.exit_status as i32;
            let finished_at = task
                .exited_at
                .as_ref()
                .and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok())
                .unwrap_or_else(jiff::Timestamp::now);
            let exit = ContainerExit {
                exit_code,
                finished_at,
                reason: super::status::ExitReason::for_exit(exit_code, false),
                message,
            };
            (ContainerState::Exited, None, Some(exit))
        }
        (None, Some(_)) => (ContainerState::Created, None, None),
        (None, None) if started_at.is_some() => (ContainerState::Unknown, None, None),
        (None, None) => (ContainerState::Created, None, None),
    };
    ContainerStatus {
        id: container.id,
        name: get(labels::CONTAINER_NAME),
        sandbox_id: get(labels::SANDBOX_ID),
        pod: PodRef { name: get(labels::POD_NAME), namespace: get(labels::POD_NAMESPACE), uid: get(labels::POD_UID) },
        restart_count: get(labels::RESTART_COUNT).parse().unwrap_or(0),
        image: get(labels::IMAGE_REF),
        image_id: get(labels::IMAGE_ID),
        state,
        pid,
        created_at: timestamp_label(&labels, labels::CREATED_AT),
        started_at,
        exit,
        log_path: PathBuf::from(get(labels::LOG_PATH)),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_keys_and_values() {
        let filter = ContainerFilter { sandbox_id: Some("abc".into()), ..Default::default() };
        assert_eq!(
            filter.containerd_filter(),
            r#"labels."io.k3rs.managed-by"=="k3rs",labels."io.k3rs.sandbox.id"=="abc""#
        );
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn ids_that_could_escape_are_refused() {
        assert!(check_id("0123abcd").is_ok());
        assert!(check_id("a-b.c_d").is_ok());
        for bad in ["", "..", "../x", "a/b", "a..b", "-a", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals_parse_by_name_or_number() {
        assert_eq!(signal_number("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(signal_number("quit").unwrap(), libc::SIGQUIT);
        assert_eq!(signal_number("9").unwrap(), 9);
        assert!(signal_number("SIGNOPE").is_err());
        assert!(signal_number("99").is_err());
    }
}
