//! Content negotiation: which format a request body is in, and which
//! representation (object, Table, metadata-only; JSON, YAML, protobuf) the
//! client accepts.

use k3rs_api::ApiError;
use serde_json::Value;

/// How the response should represent objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    PartialObjectMetadata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Yaml,
    Protobuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub representation: Representation,
    pub encoding: Encoding,
    /// `meta.k8s.io` version of Table / PartialObjectMetadata (`v1` or `v1beta1`).
    pub meta_version: &'static str,
}

impl Output {
    pub const JSON: Output =
        Output { representation: Representation::Object, encoding: Encoding::Json, meta_version: "v1" };
}

struct MediaRange<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

fn parse_media_ranges(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let essence = pieces.next().filter(|e| !e.is_empty())?;
            let params = pieces.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
            Some(MediaRange { essence, params })
        })
        .collect()
}

/// Chooses the response format from `Accept`, in the client's order of preference.
pub fn choose_output(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(Output::JSON) };
    for range in parse_media_ranges(accept) {
        let encoding = match range.essence {
            "application/json" | "*/*" | "application/*" => Encoding::Json,
            "application/yaml" => Encoding::Yaml,
            "application/vnd.kubernetes.protobuf" => Encoding::Protobuf,
            _ => continue,
        };
        let param = |k: &str| range.params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        let representation = match param("as") {
            None => Representation::Object,
            Some("Table") => Representation::Table,
            Some("PartialObjectMetadata") | Some("PartialObjectMetadataList") => Representation::PartialObjectMetadata,
            Some(_) => continue,
        };
        let meta_version = match (representation, param("g"), param("v")) {
            (Representation::Object, _, _) => "v1",
            (_, Some("meta.k8s.io"), Some("v1")) => "v1",
            (_, Some("meta.k8s.io"), Some("v1beta1")) => "v1beta1",
            _ => continue,
        };
        // Tables and metadata lists are only served as JSON.
        if representation != Representation::Object && encoding == Encoding::Protobuf {
            continue;
        }
        return Ok(Output { representation, encoding, meta_version });
    }
    Err(ApiError::new(
        k3rs_api::Reason::NotAcceptable,
        format!(
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {accept:?})"
        ),
    ))
}

/// The format of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    Protobuf,
}

pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    let ct = content_type.unwrap_or("application/json");
    let essence = ct.split(';').next().unwrap_or("").trim();
    match essence {
        "application/json" | "" => Ok(BodyFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyFormat::Yaml),
        "application/vnd.kubernetes.protobuf" => Ok(BodyFormat::Protobuf),
        _ => Err(ApiError::unsupported_media_type(ct)),
    }
}

/// A decoded request body and the keys it repeated (for strict field validation).
pub struct DecodedBody {
    pub value: Value,
    pub duplicate_fields: Vec<String>,
}

/// Decodes a request body into a JSON object.
pub fn decode_body(bytes: &[u8], format: BodyFormat) -> Result<DecodedBody, ApiError> {
    let mut duplicate_fields = Vec::new();
    let value = match format {
        BodyFormat::Json => {
            let (v, dups) = crate::http::json::parse_with_duplicates(bytes)?;
            duplicate_fields = dups;
            v
        }
        BodyFormat::Yaml => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ApiError::bad_request("the request body is not valid UTF-8 YAML"))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?
        }
        BodyFormat::Protobuf => crate::http::protobuf::decode(bytes)?,
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the request body must be an object, got {}",
            match value {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )));
    }
    Ok(DecodedBody { value, duplicate_fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_tables() {
        let o = choose_output(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")).unwrap();
        assert_eq!(o.representation, Representation::Table);
        assert_eq!(o.meta_version, "v1");
        let o = choose_output(Some("application/vnd.kubernetes.protobuf,application/json")).unwrap();
        assert_eq!(o.encoding, Encoding::Protobuf);
        assert_eq!(choose_output(None).unwrap(), Output::JSON);
        assert!(choose_output(Some("text/html")).is_err());
        let o = choose_output(Some("application/json;as=Table;v=v2;g=meta.k8s.io,application/json")).unwrap();
        assert_eq!(o.representation, Representation::Object);
    }

    #[test]
    fn body_formats() {
        assert_eq!(body_format(Some("application/json; charset=utf-8")).unwrap(), BodyFormat::Json);
        assert_eq!(body_format(Some("application/yaml")).unwrap(), BodyFormat::Yaml);
        assert!(body_format(Some("text/plain")).is_err());
        assert!(decode_body(b"[1]", BodyFormat::Json).is_err());
        assert!(decode_body(b"{bad", BodyFormat::Json).is_err());
        let v = decode_body(b"kind: Pod\nmetadata:\n  name: x\n", BodyFormat::Yaml).unwrap();
        assert_eq!(v.value["metadata"]["name"], "x");
    }
}
