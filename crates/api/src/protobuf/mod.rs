//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) <-> JSON.
//!
//! client-go's typed clients (`kubectl create …`, `autoscale`, `auth can-i`,
//! `drain`) send protobuf bodies; the API server works on JSON, so it converts
//! with [`decode_object`], and answers protobuf-only clients with
//! [`encode_object`].
//!
//! The wire layout of every message comes from k8s-pb's prost-generated code,
//! scanned at build time into a table (`descriptor`); the JSON names and
//! shapes come from the schema catalog (`plan`). Types whose JSON is not an
//! object of their fields (IntOrString, Quantity, Time, …) are in
//! `wellknown`; what a decoded zero means is decided in `zero`, whose module
//! docs state the policy.

mod decode;
mod descriptor;
mod duration;
mod encode;
mod envelope;
mod error;
mod plan;
mod wellknown;
mod wire;
mod zero;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use serde_json::Value;

pub use envelope::MAGIC;
pub use error::ProtoError;

use crate::schema::Catalog;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Whether a body starts with the Kubernetes protobuf prefix.
pub fn is_protobuf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Converts between protobuf and JSON for the kinds a catalog describes.
#[derive(Debug)]
pub struct Codec {
    plan: plan::Plan,
}

impl Codec {
    /// Derives the JSON mapping of every k8s-pb message from `catalog`
    /// (messages the catalog lacks get lowerCamelCase names).
    pub fn new(catalog: &Catalog) -> Self {
        Codec { plan: plan::Plan::new(catalog) }
    }

    /// Decodes an enveloped object (`k8s\0` + runtime.Unknown) to JSON,
    /// with `apiVersion` and `kind` from the envelope.
    pub fn decode_object(&self, bytes: &[u8]) -> Result<Value, ProtoError> {
        envelope::decode(&decode::Decoder { plan: &self.plan }, bytes, 0)
    }

    /// Encodes a JSON object (with `apiVersion` and `kind`; lists, `Status` and
    /// the meta options kinds included) into an enveloped protobuf body.
    /// Kinds without a protobuf message (`Table`, custom resources) give
    /// [`ProtoError::UnsupportedKind`].
    pub fn encode_object(&self, obj: &Value) -> Result<Vec<u8>, ProtoError> {
        envelope::encode(&encode::Encoder { plan: &self.plan }, obj)
    }
}

/// The codec for the built-in kinds, built on first use.
pub fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new(&crate::schema::generate(&crate::kinds::builtin())))
}

/// [`Codec::decode_object`] with the built-in codec.
pub fn decode_object(bytes: &[u8]) -> Result<Value, ProtoError> {
    codec().decode_object(bytes)
}

/// [`Codec::encode_object`] with the built-in codec.
pub fn encode_object(obj: &Value) -> Result<Vec<u8>, ProtoError> {
    codec().encode_object(obj)
}
