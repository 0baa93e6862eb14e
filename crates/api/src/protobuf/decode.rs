//! Protobuf message -> JSON, driven by the plan.

use serde_json::{Map, Value};

use super::ProtoError;
use super::descriptor::{Kind, MapValue};
use super::plan::{FieldPlan, MessagePlan, Plan};
use super::wellknown::{self, Special};
use super::wire::{Reader, WireValue};

/// Deeper nesting is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 100;

pub struct Decoder<'p> {
    pub plan: &'p Plan,
}

/// What arrived for one field.
enum Acc {
    One(Value),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

impl Decoder<'_> {
    /// Decodes `buf` as message `name`; `None` when its JSON form is unset
    /// (a zero Time, an empty Quantity) or was dropped as a zero.
    pub fn message(&self, name: &str, buf: &[u8], depth: usize) -> Result<Option<Value>, ProtoError> {
        if depth > MAX_DEPTH {
            return Err(ProtoError::TooDeep(MAX_DEPTH));
        }
        let plan =
            self.plan.message(name).ok_or_else(|| ProtoError::malformed("", format!("unknown message {name}")))?;
        match plan.special {
            Some(Special::IntOrString) => return wellknown::decode_int_or_string(buf, false),
            Some(Special::Quantity) => return wellknown::decode_quantity(buf),
            Some(Special::Time) => return wellknown::decode_time(buf, false),
            Some(Special::MicroTime) => return wellknown::decode_time(buf, true),
            Some(Special::Duration) => return wellknown::decode_duration(buf),
            Some(Special::RawJson) => return self.raw_json(buf, depth),
            _ => {}
        }
        let fields = self.fields(plan, buf, depth)?;
        match plan.special {
            Some(Special::SchemaOrArray | Special::SchemaOrStringArray) => Ok(schema_or_list(plan, fields)),
            Some(Special::SchemaOrBool) => Ok(schema_or_bool(plan, fields)),
            _ if plan.bare_list => Ok(Some(match fields.into_iter().next().flatten() {
                Some(Acc::List(items)) => Value::Array(items),
                _ => Value::Array(Vec::new()),
            })),
            _ => Ok(Some(Value::Object(self.assemble(plan, fields)))),
        }
    }

    /// Reads every field of a message, by position in the plan.
    fn fields(&self, plan: &MessagePlan, buf: &[u8], depth: usize) -> Result<Vec<Option<Acc>>, ProtoError> {
        let mut acc: Vec<Option<Acc>> = plan.fields.iter().map(|_| None).collect();
        let mut reader = Reader::new(buf);
        while let Some((tag, value)) = reader.field()? {
            let Some((index, field)) = plan.field(tag) else { continue };
            self.field(field, value, &mut acc[index], depth).map_err(|e| e.within(&field.json))?;
        }
        Ok(acc)
    }

    fn field(
        &self,
        field: &FieldPlan,
        value: WireValue<'_>,
        slot: &mut Option<Acc>,
        depth: usize,
    ) -> Result<(), ProtoError> {
        let desc = field.desc;
        if let Kind::Map(value_kind) = desc.kind {
            let (key, entry) = self.map_entry(value_kind, expect_bytes(value)?, depth)?;
            if let Acc::Map(map) = slot.get_or_insert_with(|| Acc::Map(Map::new())) {
                map.insert(key, entry);
            }
            return Ok(());
        }
        if desc.repeated {
            let list = match slot.get_or_insert_with(|| Acc::List(Vec::new())) {
                Acc::List(list) => list,
                _ => return Ok(()),
            };
            // Numbers may arrive packed even though Kubernetes writes them unpacked.
            if let (Kind::Int32 | Kind::Int64 | Kind::Bool, WireValue::Bytes(packed)) = (desc.kind, value) {
                let mut reader = Reader::new(packed);
                while !reader.is_empty() {
                    list.push(scalar(desc.kind, WireValue::Varint(reader.varint()?))?);
                }
                return Ok(());
            }
            if let (Kind::Double, WireValue::Bytes(packed)) = (desc.kind, value) {
                if packed.len() % 8 != 0 {
                    return Err(ProtoError::malformed("", "packed doubles are not a multiple of 8 bytes"));
                }
                for chunk in packed.chunks_exact(8) {
                    let bits = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
                    list.push(scalar(Kind::Double, WireValue::Fixed64(bits))?);
                }
                return Ok(());
            }
            let item = match desc.kind {
                // An unset element (e.g. a zero Time) still takes its place in the list.
                Kind::Message(name) => self.message(name, expect_bytes(value)?, depth + 1)?.unwrap_or(Value::Null),
                kind => scalar(kind, value)?,
            };
            list.push(item);
            return Ok(());
        }
        let decoded = match desc.kind {
            Kind::Message(name) => {
                let bytes = expect_bytes(value)?;
                if self.plan.message(name).and_then(|m| m.special) == Some(Special::IntOrString) {
                    wellknown::decode_int_or_string(bytes, field.zero.drop_zero)?
                } else {
                    self.message(name, bytes, depth + 1)?
                }
            }
            kind => {
                let v = scalar(kind, value)?;
                let dropped = match &v {
                    Value::String(s) => s.is_empty() && field.zero.drop_empty_string,
                    Value::Bool(b) => !b && field.zero.drop_zero,
                    Value::Number(n) => n.as_f64() == Some(0.0) && field.zero.drop_zero,
                    _ => false,
                };
                (!dropped).then_some(v)
            }
        };
        // A message field that repeats merges in protobuf; Kubernetes never
        // writes one twice, so the last occurrence wins here.
        *slot = decoded.map(Acc::One);
        Ok(())
    }

    fn map_entry(&self, kind: MapValue, buf: &[u8], depth: usize) -> Result<(String, Value), ProtoError> {
        let mut key = String::new();
        let mut value = None;
        let mut reader = Reader::new(buf);
        while let Some((tag, wire)) = reader.field()? {
            match tag {
                1 => key = utf8(expect_bytes(wire)?)?.to_string(),
                2 => {
                    value = match kind {
                        MapValue::String => Some(scalar(Kind::String, wire)?),
                        MapValue::Bytes => Some(scalar(Kind::Bytes, wire)?),
                        MapValue::Message(name) => self.message(name, expect_bytes(wire)?, depth + 1)?,
                    }
                }
                _ => {}
            }
        }
        let value = match (value, kind) {
            (Some(v), _) => v,
            (None, MapValue::String | MapValue::Bytes) => Value::from(""),
            (None, MapValue::Message(name)) => self.message(name, &[], depth + 1)?.unwrap_or(Value::Null),
        };
        Ok((key, value))
    }

    /// Builds the JSON object, merging inlined messages into it.
    fn assemble(&self, plan: &MessagePlan, fields: Vec<Option<Acc>>) -> Map<String, Value> {
        let mut out = Map::new();
        for (field, acc) in plan.fields.iter().zip(fields) {
            let value = match acc {
                None => continue,
                Some(Acc::One(v)) => v,
                Some(Acc::List(items)) => Value::Array(items),
                Some(Acc::Map(map)) => Value::Object(map),
            };
            match value {
                Value::Object(inner) if field.inline => out.extend(inner),
                value => {
                    out.insert(field.json.clone(), value);
                }
            }
        }
        out
    }

    fn raw_json(&self, buf: &[u8], depth: usize) -> Result<Option<Value>, ProtoError> {
        let raw = wellknown::raw_bytes(buf)?;
        if raw.is_empty() {
            Ok(None)
        } else if raw.starts_with(super::envelope::MAGIC) {
            // An embedded object in protobuf rather than JSON.
            super::envelope::decode(self, raw, depth + 1).map(Some)
        } else {
            serde_json::from_slice(raw)
                .map(Some)
                .map_err(|e| ProtoError::malformed("", format!("embedded document is not JSON: {e}")))
        }
    }
}

/// JSONSchemaPropsOrArray / OrStringArray: the list (field 2) if any, else the schema (field 1).
fn schema_or_list(plan: &MessagePlan, fields: Vec<Option<Acc>>) -> Option<Value> {
    let mut schema = None;
    for (field, acc) in plan.fields.iter().zip(fields) {
        match (field.desc.tag, acc) {
            (2, Some(Acc::List(items))) if !items.is_empty() => return Some(Value::Array(items)),
            (1, Some(Acc::One(v))) => schema = Some(v),
            _ => {}
        }
    }
    schema
}

/// JSONSchemaPropsOrBool: the schema (field 2) if set, else the boolean (field 1).
fn schema_or_bool(plan: &MessagePlan, fields: Vec<Option<Acc>>) -> Option<Value> {
    let mut allows = Value::Bool(false);
    for (field, acc) in plan.fields.iter().zip(fields) {
        match (field.desc.tag, acc) {
            (2, Some(Acc::One(schema))) => return Some(schema),
            (1, Some(Acc::One(v))) => allows = v,
            _ => {}
        }
    }
    Some(allows)
}

fn expect_bytes(value: WireValue<'_>) -> Result<&[u8], ProtoError> {
    match value {
        WireValue::Bytes(b) => Ok(b),
        other => Err(wrong_wire_type(other)),
    }
}

fn wrong_wire_type(value: WireValue<'_>) -> ProtoError {
    let found = match value {
        WireValue::Varint(_) => "varint",
        WireValue::Fixed64(_) => "fixed64",
        WireValue::Fixed32(_) => "fixed32",
        WireValue::Bytes(_) => "length-delimited",
        WireValue::Group => "group",
    };
    ProtoError::malformed("", format!("unexpected {found} wire type"))
}

fn utf8(bytes: &[u8]) -> Result<&str, ProtoError> {
    std::str::from_utf8(bytes).map_err(|_| ProtoError::malformed("", "string is not valid UTF-8"))
}

/// A scalar field's JSON value.
fn scalar(kind: Kind, value: WireValue<'_>) -> Result<Value, ProtoError> {
    Ok(match (kind, value) {
        (Kind::String, WireValue::Bytes(b)) => Value::from(utf8(b)?),
        (Kind::Bytes, WireValue::Bytes(b)) => Value::from(wellknown::base64_encode(b)),
        (Kind::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        // int32 is sign-extended to 64 bits on the wire; truncation is protobuf's rule.
        (Kind::Int32, WireValue::Varint(v)) => Value::from(v as i32),
        (Kind::Int64, WireValue::Varint(v)) => Value::from(v as i64),
        (Kind::Double, WireValue::Fixed64(bits)) => serde_json::Number::from_f64(f64::from_bits(bits))
            .map(Value::Number)
            .ok_or_else(|| ProtoError::malformed("", "number is not finite"))?,
        (_, other) => return Err(wrong_wire_type(other)),
    })
}
