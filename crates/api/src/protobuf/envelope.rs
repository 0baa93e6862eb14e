//! The Kubernetes protobuf envelope: the bytes `k8s\0`, then a
//! `runtime.Unknown {1: TypeMeta {1: apiVersion, 2: kind}, 2: raw,
//! 3: contentEncoding, 4: contentType}` whose `raw` is the object's message.

use serde_json::{Map, Value};

use super::ProtoError;
use super::decode::Decoder;
use super::descriptor;
use super::encode::Encoder;
use super::wire::{Reader, WireValue, Writer};

pub const MAGIC: &[u8] = b"k8s\0";

/// The envelope's parts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unknown<'a> {
    pub api_version: String,
    pub kind: String,
    pub raw: &'a [u8],
    pub content_encoding: String,
    pub content_type: String,
}

/// Splits an envelope (with its magic prefix) into its parts.
pub fn parse(bytes: &[u8]) -> Result<Unknown<'_>, ProtoError> {
    let body = bytes.strip_prefix(MAGIC).ok_or(ProtoError::MissingMagic)?;
    let mut out = Unknown::default();
    let mut reader = Reader::new(body);
    while let Some((tag, value)) = reader.field().map_err(|e| ProtoError::malformed("envelope", e))? {
        let WireValue::Bytes(b) = value else { continue };
        match tag {
            1 => {
                let mut meta = Reader::new(b);
                while let Some((tag, value)) = meta.field().map_err(|e| ProtoError::malformed("envelope", e))? {
                    match (tag, value) {
                        (1, WireValue::Bytes(v)) => out.api_version = text(v)?,
                        (2, WireValue::Bytes(v)) => out.kind = text(v)?,
                        _ => {}
                    }
                }
            }
            2 => out.raw = b,
            3 => out.content_encoding = text(b)?,
            4 => out.content_type = text(b)?,
            _ => {}
        }
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError::malformed("envelope", "string is not valid UTF-8"))
}

/// Decodes an enveloped object to JSON with `apiVersion` and `kind`.
pub fn decode(decoder: &Decoder<'_>, bytes: &[u8], depth: usize) -> Result<Value, ProtoError> {
    let unknown = parse(bytes)?;
    if !unknown.content_encoding.is_empty() {
        return Err(ProtoError::UnsupportedEncoding(unknown.content_encoding));
    }
    if unknown.api_version.is_empty() || unknown.kind.is_empty() {
        return Err(ProtoError::malformed("envelope", "the type meta lacks apiVersion or kind"));
    }
    let unsupported =
        || ProtoError::UnsupportedKind { api_version: unknown.api_version.clone(), kind: unknown.kind.clone() };
    let message = descriptor::message_for_kind(&unknown.api_version, &unknown.kind).ok_or_else(unsupported)?;
    let body = decoder.message(message.name, unknown.raw, depth).map_err(|e| e.within(&unknown.kind))?;
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::from(unknown.api_version.as_str()));
    out.insert("kind".into(), Value::from(unknown.kind.as_str()));
    if let Some(Value::Object(fields)) = body {
        out.extend(fields);
    }
    Ok(Value::Object(out))
}

/// Encodes a JSON object (with `apiVersion` and `kind`) into an envelope.
pub fn encode(encoder: &Encoder<'_>, obj: &Value) -> Result<Vec<u8>, ProtoError> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let unsupported = || ProtoError::UnsupportedKind { api_version: api_version.into(), kind: kind.into() };
    let message = descriptor::message_for_kind(api_version, kind).ok_or_else(unsupported)?;
    let raw = encoder.message(message.name, obj, kind, 0)?;
    let mut type_meta = Writer::new();
    type_meta.bytes_field(1, api_version.as_bytes());
    type_meta.bytes_field(2, kind.as_bytes());
    let mut unknown = Writer::new();
    unknown.bytes_field(1, &type_meta.into_bytes());
    unknown.bytes_field(2, &raw);
    // Go writes its empty contentEncoding and contentType too.
    unknown.bytes_field(3, b"");
    unknown.bytes_field(4, b"");
    let mut out = MAGIC.to_vec();
    out.extend(unknown.into_bytes());
    Ok(out)
}
