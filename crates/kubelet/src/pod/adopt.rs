//! Re-adoption: when a worker starts for a pod the runtime already runs (the agent
//! restarted), it takes over the pod's sandbox and containers instead of creating new
//! ones. The newest run of each container becomes its current run, the one before it its
//! `lastState`; older runs are removed (upstream keeps one dead container per name).
//! Running containers get their exit watchers and probes back, with the started/ready
//! verdicts the API last showed, so healthy containers are neither restarted nor flapped
//! to not-ready.

use std::collections::HashMap;

use jiff::Timestamp;
use k3rs_runtime::ContainerStatus as RuntimeStatus;
use k3rs_runtime::container::{ContainerFilter, ContainerState as RuntimeState};
use k8s_openapi::api::core::v1::ContainerStatus;
use tokio::time::Instant;

use super::record::{ContainerRecord, Run, Terminated, spec_containers};
use super::worker::Worker;

fn terminated(status: &RuntimeStatus) -> Option<Terminated> {
    let exit = status.exit.as_ref()?;
    Some(Terminated {
        container_id: status.id.clone(),
        exit_code: exit.exit_code,
        reason: exit.reason.as_str().to_string(),
        message: exit.message.clone().filter(|m| !m.is_empty()),
        started_at: status.started_at,
        finished_at: exit.finished_at,
    })
}

/// An `Instant` as long ago as `at`.
fn instant_of(at: Timestamp) -> Instant {
    let ago = Timestamp::now().duration_since(at);
    let ago = std::time::Duration::try_from(ago).unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

impl Worker {
    /// Builds the container records, taking over what the runtime holds for this pod.
    pub(super) async fn adopt(&mut self) {
        let Some(spec) = self.pod.spec.clone() else { return };
        for (c, kind) in spec_containers(&spec) {
            self.records.insert(c.name.clone(), ContainerRecord::new(&c.name, kind));
        }
        let runtime = self.context.runtime.clone();

        // The newest sandbox of the pod; older ones are leftovers.
        let mut sandboxes: Vec<_> = runtime
            .list_sandboxes()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.config.uid == self.uid)
            .collect();
        sandboxes.sort_by_key(|s| s.created_at);
        self.sandbox = sandboxes.pop();
        for old in sandboxes {
            let _ = runtime.remove_sandbox(&old.id).await;
        }

        let filter = ContainerFilter { pod_uid: Some(self.uid.clone()), ..Default::default() };
        let containers = match runtime.list_containers(&filter).await {
            Ok(list) => list,
            Err(err) => {
                tracing::warn!(pod = %self.pod_name(), %err, "listing the pod's containers failed");
                return;
            }
        };
        if containers.is_empty() {
            return;
        }
        let sandbox_id = self.sandbox.as_ref().map(|s| s.id.clone());
        let mut by_name: HashMap<String, Vec<RuntimeStatus>> = HashMap::new();
        for c in containers {
            let stale = Some(&c.sandbox_id) != sandbox_id.as_ref() || !self.records.contains_key(&c.name);
            if stale {
                let _ = runtime.remove_container(&c.id).await;
                continue;
            }
            by_name.entry(c.name.clone()).or_default().push(c);
        }
        let api_statuses: Vec<ContainerStatus> = self
            .pod
            .status
            .iter()
            .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
            .cloned()
            .collect();
        for (name, mut runs) in by_name {
            runs.sort_by_key(|r| (r.restart_count, r.created_at));
            let newest = runs.pop();
            let previous = runs.pop();
            for old in runs {
                let _ = runtime.remove_container(&old.id).await;
            }
            let Some(newest) = newest else { continue };
            let api = api_statuses.iter().find(|s| {
                s.name == name && s.container_id.as_deref() == Some(format!("containerd://{}", newest.id).as_str())
            });
            let started_at = newest.started_at.unwrap_or_else(Timestamp::now);
            let run = Run {
                id: newest.id.clone(),
                image: newest.image.clone(),
                image_id: api.map(|s| s.image_id.clone()).filter(|i| !i.is_empty()).unwrap_or(newest.image_id.clone()),
                started_at,
                post_start_done: true,
                exit: match newest.state {
                    RuntimeState::Running => None,
                    RuntimeState::Created | RuntimeState::Exited | RuntimeState::Unknown => {
                        Some(terminated(&newest).unwrap_or(Terminated {
                            container_id: newest.id.clone(),
                            exit_code: 128,
                            reason: "Error".to_string(),
                            message: Some("the container's exit was lost while the agent was down".to_string()),
                            started_at: newest.started_at,
                            finished_at: Timestamp::now(),
                        }))
                    }
                },
            };
            let running = run.exit.is_none();
            let Some(record) = self.records.get_mut(&name) else { continue };
            record.last_termination = previous.as_ref().and_then(terminated);
            record.run = Some(run);
            record.restart_count = newest.restart_count;
            tracing::info!(pod = %self.pod_name(), container = %name, id = %newest.id, running, "re-adopted container");
            if running {
                let Some(container) = self.container_spec(&name) else { continue };
                let (started, ready) = api.map(|s| (s.started.unwrap_or(false), s.ready)).unwrap_or((false, false));
                self.watch_exit(&name, &newest.id, &container, Some(started_at));
                self.begin_probing(&name, &container, &newest.id, instant_of(started_at), started, ready);
            }
        }
    }
}
