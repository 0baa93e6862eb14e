//! Attaching to a running container's main process (`kubectl attach`, `kubectl run -i`):
//! its output as the log pump reads it, its stdin (if the container keeps one open), and
//! terminal resizing.

use containerd_client::services::v1::ResizePtyRequest;
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, watch};

use super::status::ContainerExit;
use crate::error::{Result, RuntimeError, StatusExt};
use crate::io::pump::OutputChunk;
use crate::runtime::Runtime;

/// An attachment to a container.
pub struct AttachSession {
    /// The container's stdin (if it was created with `stdin`).
    pub stdin: Option<pipe::Sender>,
    /// True when the container has a terminal (all output arrives as stdout).
    pub tty: bool,
    output: broadcast::Receiver<OutputChunk>,
    exit: watch::Receiver<Option<ContainerExit>>,
}

impl AttachSession {
    /// The next piece of output; `None` once the container has exited and all its output
    /// was delivered. Output a slow reader missed (more than 256 pieces behind) is skipped.
    pub async fn next(&mut self) -> Option<OutputChunk> {
        loop {
            if self.exit.borrow().is_some() {
                return match self.output.try_recv() {
                    Ok(chunk) => Some(chunk),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                    Err(_) => None,
                };
            }
            tokio::select! {
                chunk = self.output.recv() => match chunk {
                    Ok(chunk) => return Some(chunk),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                changed = self.exit.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}

impl Runtime {
    /// Attaches to a running container.
    pub async fn attach(&self, container_id: &str) -> Result<AttachSession> {
        let live = self.live(container_id).ok_or_else(|| RuntimeError::InvalidState {
            id: container_id.to_string(),
            reason: "is not running".into(),
        })?;
        let output = live
            .output()
            .ok_or_else(|| RuntimeError::InvalidState {
                id: container_id.to_string(),
                reason: "its output is not available".into(),
            })?
            .subscribe();
        let stdin = match &live.stdin {
            Some(file) => {
                let file = file.try_clone().map_err(|e| RuntimeError::io("attach stdin", "", e))?;
                Some(pipe::Sender::from_file(file).map_err(|e| RuntimeError::io("attach stdin", "", e))?)
            }
            None => None,
        };
        Ok(AttachSession { stdin, tty: live.tty, output, exit: live.exit.clone() })
    }

    /// Resizes the terminal of a container's main process.
    pub async fn resize_container_tty(&self, container_id: &str, width: u16, height: u16) -> Result<()> {
        let containerd = self.containerd();
        let request = ResizePtyRequest {
            container_id: container_id.to_string(),
            exec_id: String::new(),
            width: width.into(),
            height: height.into(),
        };
        containerd.tasks().resize_pty(containerd.request(request)).await.op("resize terminal")?;
        Ok(())
    }
}
