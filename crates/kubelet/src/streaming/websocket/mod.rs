//! WebSocket pieces: the Kubernetes channel protocols and a WebSocket seen as a byte
//! stream (for SPDY tunnelled in a WebSocket).

pub mod channel;
pub mod tunnel;
