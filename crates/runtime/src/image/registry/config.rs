//! `registries.yaml`, as K3s reads it:
//!
//! ```yaml
//! mirrors:
//!   docker.io:
//!     endpoint: ["https://mirror.local:5000"]
//!     rewrite:
//!       "^library/(.*)": "mirrored/$1"
//! configs:
//!   "mirror.local:5000":
//!     auth: { username: u, password: p }
//!     tls: { ca_file: /etc/ssl/mirror.pem, insecure_skip_verify: false }
//! ```
//!
//! A registry's mirrors are tried in order, then the registry itself (the `"*"` mirror
//! applies to registries without their own entry).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, RuntimeError};

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RegistriesConfig {
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    #[serde(default)]
    pub configs: BTreeMap<String, HostConfig>,
    /// Never fall back to the registry itself, only its mirrors (K3s'
    /// `--disable-default-registry-endpoint`; not read from the file).
    #[serde(skip)]
    pub disable_default_endpoint: bool,
}

/// The mirrors of one registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Mirror {
    #[serde(default)]
    pub endpoint: Vec<String>,
    /// Regular expression → replacement, applied to the repository when pulling from a mirror.
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
}

/// Settings for one registry host (`host[:port]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HostConfig {
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// Credentials for a host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct AuthConfig {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// base64 of `username:password`.
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub identitytoken: Option<String>,
}

/// TLS settings for a host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Credentials for one registry, e.g. from an `imagePullSecrets` docker config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The registry host they are for (`docker.io`, `registry.local:5000`).
    pub registry: String,
    pub username: String,
    pub password: String,
}

/// One place to pull from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryEndpoint {
    /// `scheme://host[:port][/path]`, without a trailing `/v2`.
    pub url: String,
    /// `host[:port]`, the key of its `configs` entry.
    pub host: String,
    /// True for a mirror (rewrites apply), false for the registry itself.
    pub mirror: bool,
}

impl RegistriesConfig {
    /// Reads the file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<RegistriesConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => RegistriesConfig::parse(&text)
                .map_err(|reason| RuntimeError::RegistriesConfig { path: path.to_path_buf(), reason }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(RegistriesConfig::default()),
            Err(err) => Err(RuntimeError::io("read", path, err)),
        }
    }

    /// Parses the YAML text.
    pub fn parse(text: &str) -> Result<RegistriesConfig, String> {
        if text.trim().is_empty() {
            return Ok(RegistriesConfig::default());
        }
        let config: RegistriesConfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        for (registry, mirror) in &config.mirrors {
            for endpoint in &mirror.endpoint {
                parse_endpoint(endpoint).map_err(|e| format!("mirrors.{registry}: {e}"))?;
            }
            for pattern in mirror.rewrite.keys() {
                regex::Regex::new(pattern).map_err(|e| format!("mirrors.{registry}.rewrite {pattern:?}: {e}"))?;
            }
        }
        Ok(config)
    }

    /// Where to pull images of `registry` from, in order.
    pub fn endpoints(&self, registry: &str) -> Vec<RegistryEndpoint> {
        let mirror = self.mirrors.get(registry).or_else(|| self.mirrors.get("*"));
        let mut endpoints: Vec<RegistryEndpoint> = mirror
            .into_iter()
            .flat_map(|m| m.endpoint.iter())
            .filter_map(|e| parse_endpoint(e).ok())
            .map(|(url, host)| RegistryEndpoint { url, host, mirror: true })
            .collect();
        if self.disable_default_endpoint {
            return endpoints;
        }
        let default = if registry == "docker.io" {
            "https://registry-1.docker.io".to_string()
        } else {
            format!("https://{registry}")
        };
        if !endpoints.iter().any(|e| e.url == default) {
            let host = default.trim_start_matches("https://").to_string();
            endpoints.push(RegistryEndpoint { url: default, host, mirror: false });
        }
        endpoints
    }

    /// The repository to ask a mirror for, after `rewrite` rules.
    pub fn rewrite(&self, registry: &str, repository: &str) -> String {
        let Some(mirror) = self.mirrors.get(registry).or_else(|| self.mirrors.get("*")) else {
            return repository.to_string();
        };
        for (pattern, replacement) in &mirror.rewrite {
            if let Ok(regex) = regex::Regex::new(pattern)
                && regex.is_match(repository)
            {
                return regex.replace(repository, replacement.as_str()).into_owned();
            }
        }
        repository.to_string()
    }

    /// The `configs` entry of a host.
    pub fn host(&self, host: &str) -> Option<&HostConfig> {
        self.configs.get(host)
    }
}

impl AuthConfig {
    /// Username and password, from the fields or from `auth`.
    pub fn username_password(&self) -> Option<(String, String)> {
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            return Some((user.clone(), password.clone()));
        }
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(self.auth.as_ref()?.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    }
}

/// Checks an endpoint URL and returns it normalised, with its `host[:port]`.
fn parse_endpoint(endpoint: &str) -> Result<(String, String), String> {
    let with_scheme = if endpoint.contains("://") { endpoint.to_string() } else { format!("https://{endpoint}") };
    let uri: http::Uri = with_scheme.parse().map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("endpoint {endpoint:?}: scheme must be http or https")),
    }
    let host = uri.authority().ok_or_else(|| format!("endpoint {endpoint:?} has no host"))?.to_string();
    let url = with_scheme.trim_end_matches('/').trim_end_matches("/v2").trim_end_matches('/').to_string();
    Ok((url, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "https://mirror.local/v2"
    rewrite:
      "^library/(.*)": "mirrored/$1"
  "*":
    endpoint: ["https://fallback.local"]
configs:
  "127.0.0.1:5000":
    auth:
      username: alice
      password: secret
    tls:
      insecure_skip_verify: true
  "mirror.local":
    auth:
      auth: Ym9iOnB3   # bob:pw
"#;

    #[test]
    fn endpoints_list_mirrors_then_the_registry() {
        let config = RegistriesConfig::parse(SAMPLE).unwrap();
        let urls: Vec<String> = config.endpoints("docker.io").into_iter().map(|e| e.url).collect();
        assert_eq!(urls, vec!["http://127.0.0.1:5000", "https://mirror.local", "https://registry-1.docker.io"]);
        let other: Vec<String> = config.endpoints("quay.io").into_iter().map(|e| e.url).collect();
        assert_eq!(other, vec!["https://fallback.local", "https://quay.io"]);
        let mirrors_only = RegistriesConfig { disable_default_endpoint: true, ..config.clone() };
        assert_eq!(mirrors_only.endpoints("docker.io").len(), 2);
        assert!(RegistriesConfig { disable_default_endpoint: true, ..Default::default() }.endpoints("x.io").is_empty());
        assert_eq!(RegistriesConfig::default().endpoints("ghcr.io")[0].host, "ghcr.io");
    }

    #[test]
    fn auth_and_rewrites() {
        let config = RegistriesConfig::parse(SAMPLE).unwrap();
        let alice = config.host("127.0.0.1:5000").unwrap();
        assert_eq!(alice.auth.as_ref().unwrap().username_password(), Some(("alice".into(), "secret".into())));
        assert!(alice.tls.as_ref().unwrap().insecure_skip_verify);
        let bob = config.host("mirror.local").unwrap().auth.as_ref().unwrap().username_password();
        assert_eq!(bob, Some(("bob".into(), "pw".into())));
        assert_eq!(config.rewrite("docker.io", "library/busybox"), "mirrored/busybox");
        assert_eq!(config.rewrite("docker.io", "bitnami/nginx"), "bitnami/nginx");
    }

    #[test]
    fn bad_files_are_errors_and_empty_is_fine() {
        assert_eq!(RegistriesConfig::parse("").unwrap(), RegistriesConfig::default());
        assert!(
            RegistriesConfig::parse("mirrors:\n  x:\n    endpoint: [\"ftp://a\"]\n").unwrap_err().contains("scheme")
        );
        assert!(RegistriesConfig::parse("mirrors: [").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RegistriesConfig::load(&dir.path().join("none.yaml")).unwrap(), RegistriesConfig::default());
    }
}
