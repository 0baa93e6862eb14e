//! Pulling images from registries (the distribution API v2): endpoints and credentials from
//! a K3s-style `registries.yaml` (mirrors with rewrites, per-host auth and TLS), credentials
//! from `imagePullSecrets`, bearer-token and basic authentication.

mod client;
mod config;
mod pull;

pub use config::{AuthConfig, Credentials, HostConfig, Mirror, RegistriesConfig, RegistryEndpoint, TlsConfig};
pub(crate) use pull::pull;
