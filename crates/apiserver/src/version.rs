//! `/version`: the Kubernetes version whose API k3rs serves.
//!
//! The machine's kubectl dispatcher picks the client matching `minor`, so this
//! must name the Kubernetes minor version of the k8s-openapi types k3rs uses.

use serde_json::{Value, json};

pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "33";

pub fn git_version() -> String {
    format!("v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0+k3rs{}", env!("CARGO_PKG_VERSION").replace('.', ""))
}

pub fn info() -> Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": git_version(),
        "gitCommit": option_env!("K3RS_GIT_COMMIT").unwrap_or("unknown"),
        "gitTreeState": "clean",
        "buildDate": option_env!("K3RS_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z"),
        "goVersion": concat!("rust", env!("CARGO_PKG_RUST_VERSION")),
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }),
    })
}
