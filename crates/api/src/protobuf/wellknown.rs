//! Messages whose JSON form is not an object of their fields: IntOrString,
//! Quantity, Time, MicroTime, Duration and the raw-JSON carriers
//! (RawExtension, FieldsV1, apiextensions JSON), plus the apiextensions
//! "schema or X" unions, which the codec handles next to its recursion.

use base64::Engine as _;
use serde_json::Value;

use super::ProtoError;
use super::duration;
use super::wire::{Reader, WireValue, Writer};

/// A message with its own JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `{1: type, 2: intVal, 3: strVal}` -> number or string.
    IntOrString,
    /// `{1: string}` -> string.
    Quantity,
    /// `{1: seconds, 2: nanos}` -> RFC 3339, whole seconds.
    Time,
    /// `{1: seconds, 2: nanos}` -> RFC 3339 with microseconds.
    MicroTime,
    /// `{1: nanoseconds}` -> Go duration string.
    Duration,
    /// `{1: raw}` -> the embedded JSON document.
    RawJson,
    /// apiextensions `JSONSchemaPropsOrArray {1: schema, 2: repeated schemas}` -> object or array.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool {1: allows, 2: schema}` -> bool or object.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray {1: schema, 2: repeated property}` -> object or array.
    SchemaOrStringArray,
}

const APIEXTENSIONS: &[&str] = &[
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.",
];

/// The special form of a message, by name.
pub fn special(message: &str) -> Option<Special> {
    let fixed = match message {
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Some(Special::IntOrString),
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => Some(Special::Quantity),
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Some(Special::Time),
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Some(Special::MicroTime),
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Some(Special::Duration),
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" | "k8s.io.apimachinery.pkg.runtime.RawExtension" => {
            Some(Special::RawJson)
        }
        _ => None,
    };
    fixed.or_else(|| {
        let short = APIEXTENSIONS.iter().find_map(|p| message.strip_prefix(p))?;
        match short {
            "Json" => Some(Special::RawJson),
            "JsonSchemaPropsOrArray" => Some(Special::SchemaOrArray),
            "JsonSchemaPropsOrBool" => Some(Special::SchemaOrBool),
            "JsonSchemaPropsOrStringArray" => Some(Special::SchemaOrStringArray),
            _ => None,
        }
    })
}

/// The scalar fields of a small special message, by tag.
#[derive(Default)]
struct Scalars<'a> {
    varints: [Option<u64>; 4],
    bytes: [Option<&'a [u8]>; 4],
}

fn scalars<'a>(buf: &'a [u8], what: &str) -> Result<Scalars<'a>, ProtoError> {
    let mut out = Scalars::default();
    let mut reader = Reader::new(buf);
    while let Some((tag, value)) = reader.field().map_err(|e| ProtoError::malformed(what, e))? {
        let Some(slot) = usize::try_from(tag).ok().filter(|t| *t < 4) else { continue };
        match value {
            WireValue::Varint(v) => out.varints[slot] = Some(v),
            WireValue::Bytes(b) => out.bytes[slot] = Some(b),
            _ => return Err(ProtoError::malformed(what, format!("unexpected wire type for field {tag}"))),
        }
    }
    Ok(out)
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, ProtoError> {
    std::str::from_utf8(bytes).map_err(|_| ProtoError::malformed(what, "string is not valid UTF-8"))
}

/// Decodes an IntOrString; `None` for the zero value when `drop_zero`.
pub fn decode_int_or_string(buf: &[u8], drop_zero: bool) -> Result<Option<Value>, ProtoError> {
    let f = scalars(buf, "IntOrString")?;
    let value = match f.varints[1].unwrap_or(0) {
        0 => Value::from(f.varints[2].unwrap_or(0) as i32),
        1 => Value::from(utf8(f.bytes[3].unwrap_or_default(), "IntOrString")?),
        other => return Err(ProtoError::malformed("IntOrString", format!("unknown type {other}"))),
    };
    let zero = value == 0 || value == "";
    Ok((!(zero && drop_zero)).then_some(value))
}

pub fn decode_quantity(buf: &[u8]) -> Result<Option<Value>, ProtoError> {
    let f = scalars(buf, "Quantity")?;
    let text = utf8(f.bytes[1].unwrap_or_default(), "Quantity")?;
    Ok((!text.is_empty()).then(|| Value::from(text)))
}

/// Decodes a Time or MicroTime; the zero time (Go's `time.Time{}` as unix 0) is unset.
pub fn decode_time(buf: &[u8], micro: bool) -> Result<Option<Value>, ProtoError> {
    let what = if micro { "MicroTime" } else { "Time" };
    let f = scalars(buf, what)?;
    let seconds = f.varints[1].unwrap_or(0) as i64;
    let nanos = f.varints[2].unwrap_or(0) as i64;
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let nanos = i32::try_from(nanos).ok().filter(|n| (0..1_000_000_000).contains(n));
    let ts = nanos
        .and_then(|n| jiff::Timestamp::new(seconds, n).ok())
        .ok_or_else(|| ProtoError::malformed(what, "timestamp out of range"))?;
    Ok(Some(Value::from(format_time(ts, micro))))
}

/// `2024-01-02T03:04:05Z`, or `2024-01-02T03:04:05.000000Z` for MicroTime (UTC, as Go writes them).
pub fn format_time(ts: jiff::Timestamp, micro: bool) -> String {
    let dt = jiff::tz::Offset::UTC.to_datetime(ts);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if micro { format!("{base}.{:06}Z", dt.subsec_nanosecond() / 1_000) } else { format!("{base}Z") }
}

pub fn decode_duration(buf: &[u8]) -> Result<Option<Value>, ProtoError> {
    let f = scalars(buf, "Duration")?;
    Ok(Some(Value::from(duration::format(f.varints[1].unwrap_or(0) as i64))))
}

/// The bytes a raw-JSON carrier holds (field 1).
pub fn raw_bytes(buf: &[u8]) -> Result<&[u8], ProtoError> {
    Ok(scalars(buf, "raw JSON")?.bytes[1].unwrap_or_default())
}

/// Encodes a special message's JSON value into its fields (not the schema unions).
pub fn encode(special: Special, value: &Value, path: &str) -> Result<Vec<u8>, ProtoError> {
    let mut w = Writer::new();
    match special {
        Special::IntOrString => match value {
            Value::Number(n) => {
                // Accept integral floats (`8080.0`), as Go's JSON decoder does.
                let v = n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64));
                let v = v.and_then(|v| i32::try_from(v).ok());
                let v = v.ok_or_else(|| ProtoError::invalid(path, "expected an int32 integer"))?;
                w.int_field(1, 0);
                w.int_field(2, i64::from(v));
                w.bytes_field(3, b"");
            }
            Value::String(s) => {
                w.int_field(1, 1);
                w.int_field(2, 0);
                w.bytes_field(3, s.as_bytes());
            }
            _ => return Err(ProtoError::invalid(path, "expected an integer or a string")),
        },
        Special::Quantity => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(ProtoError::invalid(path, "expected a quantity string")),
            };
            w.bytes_field(1, text.as_bytes());
        }
        Special::Time | Special::MicroTime => {
            let text = value.as_str().ok_or_else(|| ProtoError::invalid(path, "expected an RFC 3339 time"))?;
            let ts: jiff::Timestamp =
                text.parse().map_err(|e| ProtoError::invalid(path, format!("invalid time {text:?}: {e}")))?;
            w.int_field(1, ts.as_second());
            w.int_field(2, i64::from(ts.subsec_nanosecond()));
        }
        Special::Duration => {
            let text = value.as_str().ok_or_else(|| ProtoError::invalid(path, "expected a duration string"))?;
            w.int_field(1, duration::parse(text).map_err(|e| ProtoError::invalid(path, e))?);
        }
        Special::RawJson => {
            let raw = serde_json::to_vec(value).map_err(|e| ProtoError::invalid(path, e.to_string()))?;
            w.bytes_field(1, &raw);
        }
        Special::SchemaOrArray | Special::SchemaOrBool | Special::SchemaOrStringArray => {
            return Err(ProtoError::invalid(path, "schema unions are encoded by the codec"));
        }
    }
    Ok(w.into_bytes())
}

/// Base64 (standard, padded), as Go's JSON writes `[]byte`.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn base64_decode(text: &str, path: &str) -> Result<Vec<u8>, ProtoError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| ProtoError::invalid(path, format!("invalid base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(special: Special, value: Value) -> Option<Value> {
        let bytes = encode(special, &value, "f").unwrap();
        match special {
            Special::IntOrString => decode_int_or_string(&bytes, false),
            Special::Quantity => decode_quantity(&bytes),
            Special::Time => decode_time(&bytes, false),
            Special::MicroTime => decode_time(&bytes, true),
            Special::Duration => decode_duration(&bytes),
            _ => Ok(Some(serde_json::from_slice(raw_bytes(&bytes).unwrap()).unwrap())),
        }
        .unwrap()
    }

    #[test]
    fn specials_round_trip() {
        assert_eq!(roundtrip(Special::IntOrString, json!(8080)), Some(json!(8080)));
        assert_eq!(roundtrip(Special::IntOrString, json!("http")), Some(json!("http")));
        assert_eq!(roundtrip(Special::IntOrString, json!(-1)), Some(json!(-1)));
        assert_eq!(roundtrip(Special::Quantity, json!("500m")), Some(json!("500m")));
        assert_eq!(roundtrip(Special::Time, json!("2024-01-02T03:04:05Z")), Some(json!("2024-01-02T03:04:05Z")));
        assert_eq!(roundtrip(Special::Time, json!("2024-01-02T05:04:05+02:00")), Some(json!("2024-01-02T03:04:05Z")));
        assert_eq!(
            roundtrip(Special::MicroTime, json!("2024-01-02T03:04:05.123456Z")),
            Some(json!("2024-01-02T03:04:05.123456Z"))
        );
        assert_eq!(roundtrip(Special::Duration, json!("1h2m3s")), Some(json!("1h2m3s")));
        assert_eq!(roundtrip(Special::RawJson, json!({"a": [1, "b"]})), Some(json!({"a": [1, "b"]})));
    }

    #[test]
    fn zero_values_and_errors() {
        assert_eq!(decode_time(&[], false).unwrap(), None);
        assert_eq!(decode_time(&[0x08, 0x00, 0x10, 0x00], true).unwrap(), None);
        assert_eq!(decode_time(&[0x08, 0x01], true).unwrap(), Some(json!("1970-01-01T00:00:01.000000Z")));
        assert!(decode_time(&[0x08, 0x01, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f], false).is_err());
        assert_eq!(decode_int_or_string(&[0x08, 0x00, 0x10, 0x00], true).unwrap(), None);
        assert_eq!(decode_int_or_string(&[0x08, 0x00, 0x10, 0x00], false).unwrap(), Some(json!(0)));
        assert!(decode_int_or_string(&[0x08, 0x07], false).is_err());
        assert_eq!(decode_quantity(&[0x0a, 0x00]).unwrap(), None);
        assert!(decode_quantity(&[0x0a, 0x01, 0xff]).is_err());
        assert_eq!(raw_bytes(&[0x0a, 0x01, b'{']).unwrap(), b"{");
        assert!(raw_bytes(&[0x0a, 0x05, b'{']).is_err());
        assert!(encode(Special::IntOrString, &json!(1u64 << 40), "x").is_err());
        assert!(encode(Special::Time, &json!("yesterday"), "x").is_err());
        assert!(encode(Special::Duration, &json!("5 minutes"), "x").is_err());
    }
}
