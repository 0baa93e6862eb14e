//! The gRPC connection to containerd. Every request carries the containerd namespace
//! (`k8s.io` for Kubernetes workloads) in its metadata; requests made while importing or
//! pulling also carry a lease so that garbage collection leaves half-written content alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    events_client::EventsClient, images_client::ImagesClient, leases_client::LeasesClient,
    snapshots::snapshots_client::SnapshotsClient, tasks_client::TasksClient, version_client::VersionClient,
};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Result, RuntimeError};

/// A connection to one containerd socket, scoped to one containerd namespace.
///
/// Cloning is cheap: clones share the underlying HTTP/2 channel, which reconnects by itself
/// when containerd restarts.
#[derive(Clone, Debug)]
pub struct Containerd {
    channel: Channel,
    namespace: String,
    socket: PathBuf,
}

impl Containerd {
    /// Connects to the containerd socket at `socket` and checks that it answers.
    pub async fn connect(socket: &Path, namespace: &str) -> Result<Self> {
        let connection = Self::connect_lazy(socket, namespace)?;
        connection
            .version()
            .await
            .map_err(|err| RuntimeError::Connect { path: socket.to_path_buf(), reason: err.to_string() })?;
        Ok(connection)
    }

    /// Builds a connection that dials on first use (and redials after containerd restarts).
    pub fn connect_lazy(socket: &Path, namespace: &str) -> Result<Self> {
        if namespace.is_empty() || MetadataValue::try_from(namespace).is_err() {
            return Err(RuntimeError::Connect {
                path: socket.to_path_buf(),
                reason: format!("invalid containerd namespace {namespace:?}"),
            });
        }
        // The URI is required by tonic but unused: the connector dials the unix socket.
        let endpoint = Endpoint::from_static("http://[::1]:50051")
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30));
        let path = socket.to_path_buf();
        let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }));
        Ok(Containerd { channel, namespace: namespace.to_string(), socket: socket.to_path_buf() })
    }

    /// The containerd namespace every request is made in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The socket this connection dials.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// containerd's version string (e.g. `1.7.24`); also a cheap liveness check.
    pub async fn version(&self) -> Result<String> {
        let response = VersionClient::new(self.channel.clone())
            .version(tonic::Request::new(()))
            .await
            .map_err(|status| RuntimeError::Containerd { op: "version", status })?;
        Ok(response.into_inner().version)
    }

    /// Waits until containerd answers, up to `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.version().await {
                Ok(version) => return Ok(version),
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    return Err(RuntimeError::Connect { path: self.socket.clone(), reason: err.to_string() });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Wraps a message in a request that carries the namespace.
    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = MetadataValue::try_from(self.namespace.as_str()) {
            request.metadata_mut().insert("containerd-namespace", value);
        }
        request
    }

    /// Like [`Containerd::request`], and attaches the resources the request creates to `lease`.
    pub(crate) fn leased_request<T>(&self, message: T, lease: &str) -> tonic::Request<T> {
        let mut request = self.request(message);
        if let Ok(value) = MetadataValue::try_from(lease) {
            request.metadata_mut().insert("containerd-lease", value);
        }
        request
    }

    pub(crate) fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone())
    }

    pub(crate) fn content(&self) -> ContentClient<Channel> {
        // Layers can be large: lift the 4 MiB default decode limit for reads.
        ContentClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }

    pub(crate) fn diff(&self) -> DiffClient<Channel> {
        DiffClient::new(self.channel.clone())
    }

    pub(crate) fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel.clone())
    }

    pub(crate) fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel.clone())
    }

    pub(crate) fn leases(&self) -> LeasesClient<Channel> {
        LeasesClient::new(self.channel.clone())
    }

    pub(crate) fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone())
    }

    pub(crate) fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }
}
