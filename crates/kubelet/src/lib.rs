//! k3rs-kubelet: the node agent's kubelet. For now it holds the streaming endpoint
//! ([`streaming`]) that serves logs, exec, attach and port-forward to the API server.

pub mod streaming;
