//! The OCI (and Docker schema 2) image documents k3rs reads and writes: descriptors,
//! manifests, indexes and image configurations, with the media types, platform matching
//! and chain-ID computation that unpacking needs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Media types of image documents and layers.
pub mod media {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// True for a multi-platform index (OCI index or Docker manifest list).
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }

    /// True for a single-platform manifest.
    pub fn is_manifest(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }
}

/// Annotation holding the full image name in OCI layouts written by containerd and k3rs.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation naming a manifest in an index (a full reference or only a tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor: what a blob is, its digest and size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image platform (`linux/amd64`, `linux/arm64/v8`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this machine, in OCI terms.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform { architecture: architecture.to_string(), os: "linux".to_string(), variant: None }
    }

    /// True when an image for `self` runs on `host` (variants are only compared when both name one).
    pub fn runs_on(&self, host: &Platform) -> bool {
        self.os == host.os
            && self.architecture == host.architecture
            && match (&self.variant, &host.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// An image manifest: one configuration and its layers, bottom first.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index: manifests for several platforms (or, in an OCI layout, several images).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The manifest for this machine's platform (entries without a platform match any).
    pub fn manifest_for(&self, host: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| d.platform.as_ref().is_some_and(|p| p.runs_on(host))).or_else(|| {
            self.manifests
                .iter()
                .find(|d| d.platform.is_none() && !d.media_type.is_empty() && !media::is_index(&d.media_type))
        })
    }
}

/// An image configuration: the platform, the process defaults and the layers' diff IDs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: Option<ProcessDefaults>,
    pub rootfs: RootFs,
}

/// The process defaults of an image (`ENTRYPOINT`, `CMD`, `ENV`, `WORKDIR`, `USER`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
}

/// The layer list of an image configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The chain IDs of a layer stack: each names the snapshot holding that layer and all below it.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(parent) => sha256_digest(format!("{parent} {diff_id}").as_bytes()),
        };
        chain.push(next);
    }
    chain
}

/// The layer media type that fits a blob's first bytes (gzip, zstd or a plain tar).
pub fn layer_media_type(magic: &[u8]) -> &'static str {
    match magic {
        [0x1f, 0x8b, ..] => media::OCI_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => media::OCI_LAYER_ZSTD,
        _ => media::OCI_LAYER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = "sha256:aaaa".to_string();
        let b = "sha256:bbbb".to_string();
        let chain = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(chain[1], sha256_digest(b"sha256:aaaa sha256:bbbb"));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn index_picks_the_host_platform() {
        let host = Platform { architecture: "amd64".into(), os: "linux".into(), variant: None };
        let arm = Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: "sha256:arm".into(),
            platform: Some(Platform { architecture: "arm64".into(), os: "linux".into(), variant: Some("v8".into()) }),
            ..Default::default()
        };
        let amd = Descriptor {
            digest: "sha256:amd".into(),
            platform: Some(Platform { architecture: "amd64".into(), os: "linux".into(), variant: None }),
            ..arm.clone()
        };
        let index = Index { schema_version: 2, manifests: vec![arm.clone(), amd], ..Default::default() };
        assert_eq!(index.manifest_for(&host).unwrap().digest, "sha256:amd");
        let only_arm = Index { schema_version: 2, manifests: vec![arm], ..Default::default() };
        assert!(only_arm.manifest_for(&host).is_none());
    }

    #[test]
    fn layer_media_types_are_sniffed() {
        assert_eq!(layer_media_type(&[0x1f, 0x8b, 8, 0]), media::OCI_LAYER_GZIP);
        assert_eq!(layer_media_type(&[0x28, 0xb5, 0x2f, 0xfd]), media::OCI_LAYER_ZSTD);
        assert_eq!(layer_media_type(b"bin/"), media::OCI_LAYER);
    }

    #[test]
    fn docker_configs_parse() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/"},
            "rootfs":{"type":"layers","diff_ids":["sha256:1"]},"history":[]}"#;
        let config: ImageConfig = serde_json::from_str(json).unwrap();
        let defaults = config.config.unwrap();
        assert_eq!(defaults.cmd.unwrap(), vec!["sh"]);
        assert_eq!(config.rootfs.diff_ids, vec!["sha256:1"]);
    }
}
