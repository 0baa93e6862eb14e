//! Pulling through a `registries.yaml` mirror from a tiny registry served on loopback by
//! the test itself: bearer-token authentication, a redirected blob download, and a
//! container run from the pulled image.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use k3rs_runtime::container::ContainerConfig;
use k3rs_runtime::image::builder::{BuiltImage, ImageBuilder};
use k3rs_runtime::image::registry::{Credentials, RegistriesConfig};
use k3rs_runtime::testing::{TestEnvironment, can_run_containers};
use k3rs_runtime::{Endpoint, Runtime, SandboxConfig};

const TOKEN: &str = "test-token-123";

struct Registry {
    image: BuiltImage,
    blobs: BTreeMap<String, Vec<u8>>,
    port: u16,
}

fn respond(status: StatusCode, headers: &[(&str, String)], body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

impl Registry {
    fn handle(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        let auth = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        if path == "/token" {
            // alice:secret
            return if auth == "Basic YWxpY2U6c2VjcmV0" {
                respond(StatusCode::OK, &[], format!(r#"{{"token":"{TOKEN}"}}"#).into_bytes())
            } else {
                respond(StatusCode::UNAUTHORIZED, &[], b"bad credentials".to_vec())
            };
        }
        if let Some(digest) = path.strip_prefix("/cdn/") {
            return match self.blobs.get(digest) {
                Some(blob) => respond(StatusCode::OK, &[], blob.clone()),
                None => respond(StatusCode::NOT_FOUND, &[], Vec::new()),
            };
        }
        if auth != format!("Bearer {TOKEN}") {
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{}/token",service="test-registry",scope="repository:library/busybox:pull""#,
                self.port
            );
            return respond(StatusCode::UNAUTHORIZED, &[("www-authenticate", challenge)], Vec::new());
        }
        let manifest = [
            "/v2/library/busybox/manifests/latest".to_string(),
            format!("/v2/library/busybox/manifests/{}", self.image.manifest_digest),
        ];
        if manifest.iter().any(|p| p == path) {
            return respond(
                StatusCode::OK,
                &[
                    ("content-type", "application/vnd.oci.image.manifest.v1+json".to_string()),
                    ("docker-content-digest", self.image.manifest_digest.clone()),
                ],
                self.image.manifest_bytes.clone(),
            );
        }
        if let Some(digest) = path.strip_prefix("/v2/library/busybox/blobs/") {
            if digest == self.image.config_digest {
                return respond(StatusCode::OK, &[], self.image.config_bytes.clone());
            }
            if self.blobs.contains_key(digest) {
                return respond(StatusCode::TEMPORARY_REDIRECT, &[("location", format!("/cdn/{digest}"))], Vec::new());
            }
        }
        respond(StatusCode::NOT_FOUND, &[], Vec::new())
    }
}

async fn serve(image: BuiltImage) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let registry = Arc::new(Registry { blobs: image.blobs(), image, port });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let registry = registry.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let response = registry.handle(&request);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn pull_through_a_mirror_with_token_auth() {
    if !can_run_containers() {
        return;
    }
    let image = tokio::task::spawn_blocking(|| {
        ImageBuilder::busybox("docker.io/library/busybox:latest").unwrap().build().unwrap()
    })
    .await
    .unwrap();
    let manifest_digest = image.manifest_digest.clone();
    let port = serve(image).await;
    let env = TestEnvironment::start().await.unwrap();

    // A second runtime on the same containerd, with the mirror configured.
    let mut config = env.config().clone();
    let yaml = format!(
        "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://127.0.0.1:{port}\"\nconfigs:\n  \"127.0.0.1:{port}\":\n    auth:\n      username: alice\n      password: secret\n"
    );
    config.registries = RegistriesConfig::parse(&yaml).unwrap();
    // Loopback only: never fall back to the real registry.
    config.registries.disable_default_endpoint = true;
    let socket = match &config.endpoint {
        Endpoint::Managed(daemon) => daemon.socket.clone(),
        Endpoint::Socket(socket) => socket.clone(),
    };
    config.endpoint = Endpoint::Socket(socket);
    let rt = Runtime::start(config.clone()).await.unwrap();

    let pulled = tokio::time::timeout(Duration::from_secs(60), rt.pull_image("busybox", &[])).await.unwrap().unwrap();
    assert_eq!(pulled.name, "docker.io/library/busybox:latest");
    assert_eq!(pulled.repo_digest, format!("docker.io/library/busybox@{manifest_digest}"));
    assert!(rt.image_present("docker.io/library/busybox").await.unwrap().is_some());

    // Run it.
    let sandbox_config = SandboxConfig {
        name: "pulled".into(),
        namespace: "default".into(),
        uid: "u1".into(),
        hostname: "pulled".into(),
        ..Default::default()
    };
    let sandbox = rt.create_sandbox(sandbox_config).await.unwrap();
    let log_path = env.log_dir().join("pulled.log");
    let container = ContainerConfig {
        name: "c".into(),
        image: "busybox".into(),
        command: vec!["echo".into(), "from the registry".into()],
        log_path: log_path.clone(),
        ..Default::default()
    };
    let id = rt.create_container(&sandbox.id, container).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait_container(&id).await.unwrap().exit_code, 0);
    assert!(std::fs::read_to_string(&log_path).unwrap().contains("from the registry"));

    // Wrong credentials from a pull secret take precedence and fail; no registry for the tag fails.
    let wrong =
        [Credentials { registry: format!("127.0.0.1:{port}"), username: "alice".into(), password: "nope".into() }];
    rt.remove_image("busybox").await.unwrap();
    let err = rt.pull_image("busybox", &wrong).await.unwrap_err().to_string();
    assert!(err.contains("token request"), "{err}");
    let err = rt.pull_image("busybox:missing", &[]).await.unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
    rt.remove_sandbox(&sandbox.id).await.unwrap();
    rt.close().await;
    env.cleanup().await;
}
