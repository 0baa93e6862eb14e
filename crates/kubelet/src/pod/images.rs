//! Making sure a container's image is present, as upstream's image manager does:
//! `imagePullPolicy` Always / IfNotPresent / Never (defaulted from the tag), pulls through
//! the runtime with the pod's `imagePullSecrets`, the events (`Pulling`, `Pulled`,
//! `Failed`, `BackOff`, `ErrImageNeverPull`) and the waiting reasons (`ErrImagePull`,
//! then `ImagePullBackOff` while the per-image back-off runs, `ErrImageNeverPull`).

use std::time::Duration;

use tokio::time::Instant;

use base64::Engine;
use k3rs_runtime::image::registry::Credentials;
use k3rs_runtime::{ImageRef, ImageSummary};
use k8s_openapi::api::core::v1::{Container, ObjectReference, Secret};

use super::context::Context;
use super::record::Waiting;
use crate::backoff::Backoff;
use crate::events::EventType;

/// The pull policy upstream defaults to: `Always` for `:latest` or untagged images,
/// `IfNotPresent` otherwise.
pub(crate) fn pull_policy(container: &Container) -> String {
    if let Some(policy) = container.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
        return policy.to_string();
    }
    let image = container.image.as_deref().unwrap_or("");
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let tag = last.split_once(':').map(|(_, t)| t);
    if image.contains('@') {
        return "IfNotPresent".to_string();
    }
    match tag {
        None | Some("latest") => "Always".to_string(),
        Some(_) => "IfNotPresent".to_string(),
    }
}

/// Go's `time.Duration` spelling (`770ms`, `1.234s`, `2m3.5s`, `5m0s`), as upstream's
/// messages print durations.
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let trim = |s: String| {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim(format!("{:.3}", nanos as f64 / 1_000.0)));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim(format!("{:.6}", nanos as f64 / 1_000_000.0)));
    }
    let total_secs = d.as_secs();
    let (hours, minutes, secs) = (total_secs / 3600, (total_secs % 3600) / 60, total_secs % 60);
    let frac = d.subsec_nanos();
    let seconds = if frac == 0 { format!("{secs}s") } else { format!("{}s", trim(format!("{secs}.{frac:09}"))) };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// Registry credentials from `kubernetes.io/dockerconfigjson` and `kubernetes.io/dockercfg`
/// secrets.
pub(crate) fn credentials(secrets: &[Secret]) -> Vec<Credentials> {
    let mut out = Vec::new();
    for secret in secrets {
        let data = secret.data.clone().unwrap_or_default();
        let auths: serde_json::Value = if let Some(json) = data.get(".dockerconfigjson") {
            serde_json::from_slice::<serde_json::Value>(&json.0)
                .ok()
                .and_then(|v| v.get("auths").cloned())
                .unwrap_or_default()
        } else if let Some(cfg) = data.get(".dockercfg") {
            serde_json::from_slice(&cfg.0).unwrap_or_default()
        } else {
            continue;
        };
        let Some(auths) = auths.as_object() else { continue };
        for (server, entry) in auths {
            let text = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let (mut username, mut password) = (text("username"), text("password"));
            if username.is_empty()
                && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(text("auth"))
                && let Some((u, p)) = String::from_utf8_lossy(&decoded).split_once(':')
            {
                username = u.to_string();
                password = p.to_string();
            }
            let host = server.trim_start_matches("https://").trim_start_matches("http://");
            let host = host.split('/').next().unwrap_or(host);
            // Docker Hub's historical key.
            let registry = if host == "index.docker.io" { "docker.io" } else { host };
            out.push(Credentials { registry: registry.to_string(), username, password });
        }
    }
    out
}

/// Per-image pull back-off and the pulls themselves.
pub(crate) struct ImagePuller {
    backoff: Backoff,
    /// When each image's last failed pull happened.
    failed_at: std::collections::HashMap<String, Instant>,
}

impl ImagePuller {
    pub fn new(initial: Duration, max: Duration) -> ImagePuller {
        ImagePuller { backoff: Backoff::new(initial, max), failed_at: Default::default() }
    }

    /// When the back-off of `image` ends, if it is backing off.
    pub fn backoff_until(&self, image: &str) -> Option<Instant> {
        let failed = *self.failed_at.get(image)?;
        let delay = self.backoff.current(image, Instant::now());
        let until = failed + delay;
        (until > Instant::now()).then_some(until)
    }

    /// Ensures the image of `container` is present. On failure, the container waits
    /// with the returned reason.
    pub async fn ensure(
        &mut self,
        context: &Context,
        container: &Container,
        reference: &ObjectReference,
        pull_secrets: &[Secret],
    ) -> Result<ImageSummary, Waiting> {
        let recorder = &context.recorder;
        let image = container.image.clone().unwrap_or_default();
        if let Err(err) = ImageRef::parse(&image) {
            let message = format!("Failed to apply default image tag {image:?}: {err}");
            recorder.record(reference, EventType::Warning, "InspectFailed", &message);
            return Err(Waiting::new("InvalidImageName", message));
        }
        let policy = pull_policy(container);
        let present = context.runtime.image_present(&image).await.map_err(|e| {
            let message = format!("Failed to inspect image {image:?}: {e}");
            recorder.record(reference, EventType::Warning, "InspectFailed", &message);
            Waiting::new("ImageInspectError", message)
        })?;
        match (policy.as_str(), present) {
            ("Never", Some(summary)) | ("IfNotPresent", Some(summary)) => {
                let message = format!("Container image {image:?} already present on machine");
                recorder.record(reference, EventType::Normal, "Pulled", message);
                return Ok(summary);
            }
            ("Never", None) => {
                let message = format!("Container image {image:?} is not present with pull policy of Never");
                recorder.record(reference, EventType::Warning, "ErrImageNeverPull", &message);
                return Err(Waiting::new("ErrImageNeverPull", message));
            }
            _ => {}
        }
        if self.backoff_until(&image).is_some() {
            let message = format!("Back-off pulling image {image:?}");
            recorder.record(reference, EventType::Normal, "BackOff", &message);
            recorder.record(reference, EventType::Warning, "Failed", "Error: ImagePullBackOff");
            return Err(Waiting::new("ImagePullBackOff", message));
        }
        recorder.record(reference, EventType::Normal, "Pulling", format!("Pulling image {image:?}"));
        let started = Instant::now();
        match context.runtime.pull_image(&image, &credentials(pull_secrets)).await {
            Ok(summary) => {
                self.backoff.forget(&image);
                self.failed_at.remove(&image);
                let took = go_duration(Duration::from_millis(started.elapsed().as_millis() as u64));
                let message = format!(
                    "Successfully pulled image {image:?} in {took} ({took} including waiting). Image size: {} bytes.",
                    summary.size
                );
                recorder.record(reference, EventType::Normal, "Pulled", message);
                Ok(summary)
            }
            Err(err) => {
                let now = Instant::now();
                self.backoff.next(&image, now);
                self.failed_at.insert(image.clone(), now);
                recorder.record(
                    reference,
                    EventType::Warning,
                    "Failed",
                    format!("Failed to pull image {image:?}: {err}"),
                );
                recorder.record(reference, EventType::Warning, "Failed", "Error: ErrImagePull");
                Err(Waiting::new("ErrImagePull", err.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(image: &str, policy: Option<&str>) -> Container {
        serde_json::from_value(json!({"name": "c", "image": image, "imagePullPolicy": policy})).unwrap()
    }

    #[test]
    fn policies_default_from_the_tag() {
        assert_eq!(pull_policy(&container("busybox", None)), "Always");
        assert_eq!(pull_policy(&container("busybox:latest", None)), "Always");
        assert_eq!(pull_policy(&container("busybox:1.36", None)), "IfNotPresent");
        assert_eq!(pull_policy(&container("localhost:5000/app", None)), "Always");
        assert_eq!(pull_policy(&container("localhost:5000/app:v1", None)), "IfNotPresent");
        assert_eq!(pull_policy(&container("busybox@sha256:abc", None)), "IfNotPresent");
        assert_eq!(pull_policy(&container("busybox", Some("Never"))), "Never");
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::from_millis(770)), "770ms");
        assert_eq!(go_duration(Duration::from_millis(1234)), "1.234s");
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(3725)), "1h2m5s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn pull_secrets_become_credentials() {
        let config = json!({"auths": {
            "https://index.docker.io/v1/": {"auth": base64::engine::general_purpose::STANDARD.encode("me:pw")},
            "registry.local:5000": {"username": "u", "password": "p"}
        }});
        let secret: Secret = serde_json::from_value(json!({"type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config.to_string())}}))
        .unwrap();
        let mut creds = credentials(&[secret]);
        creds.sort_by(|a, b| a.registry.cmp(&b.registry));
        assert_eq!(creds.len(), 2);
        assert_eq!(
            (creds[0].registry.as_str(), creds[0].username.as_str(), creds[0].password.as_str()),
            ("docker.io", "me", "pw")
        );
        assert_eq!(creds[1].registry, "registry.local:5000");
    }
}
