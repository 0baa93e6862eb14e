//! Lifecycle hooks (postStart, preStop) as upstream's handler runner runs them: `exec`
//! in the container (failing on a non-zero exit), `httpGet` to the pod (failing only when
//! the request fails), `sleep` for the given seconds. `tcpSocket` handlers are refused,
//! as upstream refuses them. Errors carry upstream's wording for the kubelet's log; the
//! events themselves only say that the hook failed.

use std::time::Duration;

use k3rs_runtime::{Runtime, RuntimeError};
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use super::container_config::pod_description;
use crate::netns::PodDialer;
use crate::probe::Action;
use crate::probe::action::resolve_handler;

/// Where a hook runs.
pub(crate) struct HookTarget<'a> {
    pub runtime: &'a Runtime,
    pub container_id: &'a str,
    pub pod: &'a Pod,
    pub container: &'a Container,
    /// The default host of httpGet hooks (the pod IP, or loopback while pods have none).
    pub pod_host: &'a str,
    pub dialer: &'a PodDialer,
}

/// How long a postStart exec may run: upstream gives it no deadline of its own.
pub(crate) const POST_START_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Runs `handler` within `timeout`.
pub(crate) async fn run(target: &HookTarget<'_>, handler: &LifecycleHandler, timeout: Duration) -> Result<(), String> {
    let name = &target.container.name;
    let pod = pod_description(target.pod);
    if let Some(sleep) = &handler.sleep {
        let seconds = u64::try_from(sleep.seconds).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(seconds).min(timeout)).await;
        return Ok(());
    }
    match resolve_handler(handler, target.pod_host, target.container) {
        None => Err("invalid handler: no action".to_string()),
        Some(Err(err)) => Err(format!("lifecycle hook for Container {name:?} in Pod {pod:?} failed - error: {err}")),
        Some(Ok(Action::Exec { command })) => {
            let shown = command.join(" ");
            match target.runtime.exec_sync(target.container_id, command.clone(), timeout).await {
                Ok(out) if out.exit_code == 0 => Ok(()),
                Ok(out) => Err(format!(
                    "Exec lifecycle hook ({command:?}) for Container {name:?} in Pod {pod:?} failed - error: command '{shown}' exited with {}: {}, message: {:?}",
                    out.exit_code,
                    String::from_utf8_lossy(&out.stderr).trim_end(),
                    String::from_utf8_lossy(&[out.stdout.as_slice(), out.stderr.as_slice()].concat()).trim_end(),
                )),
                Err(RuntimeError::Timeout(_)) => Err(format!(
                    "Exec lifecycle hook ({command:?}) for Container {name:?} in Pod {pod:?} failed - error: command '{shown}' timed out"
                )),
                Err(err) => Err(format!(
                    "Exec lifecycle hook ({command:?}) for Container {name:?} in Pod {pod:?} failed - error: {err}"
                )),
            }
        }
        Some(Ok(Action::HttpGet { scheme, host, port, path, headers })) => {
            crate::probe::http::get_status(&scheme, &host, port, &path, &headers, timeout, target.dialer)
                .await
                .map(|_| ())
                .map_err(|err| {
                    format!("HTTP lifecycle hook ({path}) for Container {name:?} in Pod {pod:?} failed - error: {err}")
                })
        }
        Some(Ok(_)) => Err(format!(
            "invalid handler for Container {name:?} in Pod {pod:?}: tcpSocket is not supported in lifecycle hooks"
        )),
    }
}
