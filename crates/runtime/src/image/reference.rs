//! Image references and their normalisation, as Docker and the kubelet do it:
//! `busybox` is `docker.io/library/busybox:latest`, `quay.io/a/b@sha256:…` keeps its digest,
//! and `localhost:5000/x` names a registry because its first component has a port.

use std::fmt;

use crate::error::{Result, RuntimeError};

/// The registry that names without a domain refer to.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag that references without tag or digest refer to.
pub const DEFAULT_TAG: &str = "latest";

/// A normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path within the registry, e.g. `library/busybox`.
    pub repository: String,
    /// Tag, if any (`latest` is filled in when there is neither tag nor digest).
    pub tag: Option<String>,
    /// Digest (`sha256:<hex>`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises a reference as written in a pod spec.
    pub fn parse(reference: &str) -> Result<ImageRef> {
        let invalid = |reason: &str| RuntimeError::InvalidReference {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        if reference.is_empty() {
            return Err(invalid("empty reference"));
        }
        if reference.len() > 4096 {
            return Err(invalid("reference too long"));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(|reason| invalid(&reason))?;
                (rest, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => {
                let at = last_slash + colon;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|reason| invalid(&reason))?;
        }
        let (registry, repository) = split_registry(name);
        let registry = if registry == "index.docker.io" { DEFAULT_REGISTRY.to_string() } else { registry };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_registry(&registry).map_err(|reason| invalid(&reason))?;
        validate_repository(&repository).map_err(|reason| invalid(&reason))?;
        let tag = if tag.is_none() && digest.is_none() { Some(DEFAULT_TAG.to_string()) } else { tag };
        Ok(ImageRef { registry, repository, tag, digest })
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What a registry's manifest endpoint is asked for: the digest if known, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or(DEFAULT_TAG)
    }

    /// `registry/repository@digest`, the form the kubelet reports as a repo digest.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits `name` into registry and repository: the first component is a registry when it
/// contains a '.' or a ':' or is `localhost`, and more components follow.
fn split_registry(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
    }
}

fn validate_registry(registry: &str) -> Result<(), String> {
    if registry.is_empty()
        || !registry.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return Err(format!("invalid registry {registry:?}"));
    }
    Ok(())
}

fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("empty repository name".into());
    }
    for component in repository.split('/') {
        let valid = !component.is_empty()
            && component.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            && component.starts_with(|c: char| c.is_ascii_alphanumeric())
            && component.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid {
            return Err(format!(
                "repository component {component:?} must be lowercase letters, digits and separators (. _ -)"
            ));
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid { Ok(()) } else { Err(format!("invalid tag {tag:?}")) }
}

/// Checks `sha256:<64 hex>` (the only algorithm registries and containerd use in practice).
pub(crate) fn validate_digest(digest: &str) -> Result<(), String> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
        {
            Ok(())
        }
        _ => Err(format!("invalid digest {digest:?} (expected sha256:<64 lowercase hex digits>)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(reference: &str) -> String {
        ImageRef::parse(reference).unwrap().to_string()
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_names_are_normalised() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("bitnami/nginx"), "docker.io/bitnami/nginx:latest");
        assert_eq!(norm("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("index.docker.io/library/busybox:1"), "docker.io/library/busybox:1");
    }

    #[test]
    fn registries_are_recognised_by_dot_port_or_localhost() {
        assert_eq!(norm("quay.io/coreos/etcd:v3"), "quay.io/coreos/etcd:v3");
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("127.0.0.1:5000/a/b/c:1"), "127.0.0.1:5000/a/b/c:1");
        let parsed = ImageRef::parse("localhost:5000/app").unwrap();
        assert_eq!(parsed.registry, "localhost:5000");
        assert_eq!(parsed.repository, "app");
    }

    #[test]
    fn digests_are_kept_and_suppress_the_default_tag() {
        assert_eq!(norm(&format!("busybox@{DIGEST}")), format!("docker.io/library/busybox@{DIGEST}"));
        let both = ImageRef::parse(&format!("busybox:1.36@{DIGEST}")).unwrap();
        assert_eq!(both.tag.as_deref(), Some("1.36"));
        assert_eq!(both.manifest_reference(), DIGEST);
        assert_eq!(both.with_digest(DIGEST), format!("docker.io/library/busybox@{DIGEST}"));
    }

    #[test]
    fn invalid_references_are_refused_with_a_reason() {
        for bad in ["", "Busybox", "busybox:", "busybox@sha256:xyz", "a//b", "busybox:-x", "-a"] {
            let err = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(err.contains("invalid image reference"), "{bad}: {err}");
        }
    }
}
