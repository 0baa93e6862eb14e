//! The API server's side of the kubelet streaming endpoint: pods' `log`, `exec`, `attach`
//! and `portforward` subresources are proxied to the kubelet of the pod's node.

mod client;
pub mod location;
mod proxy;

pub use location::StreamKind;
pub use proxy::proxy;
