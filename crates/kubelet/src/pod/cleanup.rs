//! Removing what the runtime, the pod directories and the log directories still hold for
//! pods that no longer exist in the API (deleted while the agent was down). Runs once,
//! after the first list of the node's pods; pods seen in that list are left to their
//! workers.

use std::collections::HashSet;

use k3rs_runtime::container::ContainerFilter;

use super::context::Context;
use super::stop::remove_from_runtime;
use super::volumes;

/// The pod UID of a log directory `<namespace>_<name>_<uid>` (UIDs have no `_`).
fn log_dir_uid(name: &str) -> Option<&str> {
    name.rsplit_once('_').map(|(_, uid)| uid).filter(|uid| !uid.is_empty())
}

/// Removes sandboxes, containers, pod directories and log directories of pods not in `known`.
pub(crate) async fn remove_orphans(context: &Context, known: &HashSet<String>) {
    let runtime = &context.runtime;
    let mut orphans: HashSet<String> = HashSet::new();
    for sandbox in runtime.list_sandboxes().await.unwrap_or_default() {
        if !known.contains(&sandbox.config.uid) {
            orphans.insert(sandbox.config.uid.clone());
        }
    }
    for container in runtime.list_containers(&ContainerFilter::default()).await.unwrap_or_default() {
        if !known.contains(&container.pod.uid) {
            orphans.insert(container.pod.uid.clone());
        }
    }
    for uid in &orphans {
        tracing::info!(%uid, "removing the containers of a pod that no longer exists");
        remove_from_runtime(runtime, uid).await;
    }
    let pods_dir = context.config.root_dir.join("pods");
    if let Ok(mut entries) = tokio::fs::read_dir(&pods_dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let uid = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&uid) {
                tracing::info!(%uid, "removing the volumes of a pod that no longer exists");
                if let Err(err) = volumes::tear_down(entry.path()).await {
                    tracing::warn!(%uid, %err, "removing the pod directory failed");
                }
            }
        }
    }
    if let Ok(mut entries) = tokio::fs::read_dir(&context.config.pod_log_dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            if log_dir_uid(&name).is_some_and(|uid| !known.contains(uid)) {
                let _ = tokio::fs::remove_dir_all(entry.path()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_directories_end_with_the_uid() {
        assert_eq!(log_dir_uid("default_web_0c1d-22"), Some("0c1d-22"));
        assert_eq!(log_dir_uid("ns_my_pod_name_u1"), Some("u1"));
        assert_eq!(log_dir_uid("nothing"), None);
    }
}
