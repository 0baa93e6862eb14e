//! HTTP plumbing: the TLS listener, content negotiation, bodies and responses.

pub mod json;
pub mod negotiate;
pub mod protobuf;
pub mod protobuf_out;
pub mod response;
pub mod server;
