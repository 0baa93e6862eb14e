//! SPDY/3.1 as Kubernetes uses it: frames, compressed header blocks, and connections with
//! multiplexed streams (exec fallback and port-forward).

pub mod dictionary;
pub mod frame;
pub mod headers;
pub mod session;

pub use frame::rst;
pub use headers::Headers;
pub use session::{Role, SpdyConnection, SpdyStream, StreamSender};
