//! JSON -> protobuf message, driven by the plan. Fields are written in tag
//! order; JSON keys with no field (including `apiVersion`/`kind`, which live
//! in the envelope) are ignored, as Go's decoder ignores unknown fields;
//! `null` means unset.

use serde_json::Value;

use super::ProtoError;
use super::decode::MAX_DEPTH;
use super::descriptor::{Kind, MapValue};
use super::plan::{FieldPlan, Plan};
use super::wellknown::{self, Special};
use super::wire::Writer;

pub struct Encoder<'p> {
    pub plan: &'p Plan,
}

impl Encoder<'_> {
    /// Encodes `value` as message `name`; `path` names it in errors.
    pub fn message(&self, name: &str, value: &Value, path: &str, depth: usize) -> Result<Vec<u8>, ProtoError> {
        if depth > MAX_DEPTH {
            return Err(ProtoError::TooDeep(MAX_DEPTH));
        }
        let plan =
            self.plan.message(name).ok_or_else(|| ProtoError::invalid(path, format!("unknown message {name}")))?;
        let mut w = Writer::new();
        if value.is_null() {
            return Ok(Vec::new());
        }
        match plan.special {
            Some(Special::SchemaOrArray | Special::SchemaOrStringArray) => {
                let tag = if value.is_array() { 2 } else { 1 };
                self.fields_with_tag(plan.fields.iter(), tag, value, path, depth, &mut w)?;
                return Ok(w.into_bytes());
            }
            Some(Special::SchemaOrBool) => {
                match value {
                    Value::Bool(b) => w.varint_field(1, u64::from(*b)),
                    schema => {
                        w.varint_field(1, 1);
                        self.fields_with_tag(plan.fields.iter(), 2, schema, path, depth, &mut w)?;
                    }
                }
                return Ok(w.into_bytes());
            }
            Some(special) => return wellknown::encode(special, value, path),
            None => {}
        }
        if let ([items], true) = (plan.fields.as_slice(), plan.bare_list) {
            self.field(items, value, path, depth, &mut w)?;
            return Ok(w.into_bytes());
        }
        let obj = match value {
            Value::Object(obj) => obj,
            _ => return Err(ProtoError::invalid(path, "expected an object")),
        };
        for field in &plan.fields {
            if field.inline {
                if let Kind::Message(inner) = field.desc.kind {
                    let bytes = self.message(inner, value, path, depth + 1)?;
                    if !bytes.is_empty() {
                        w.bytes_field(field.desc.tag, &bytes);
                    }
                }
                continue;
            }
            match obj.get(&field.json) {
                None | Some(Value::Null) => {}
                Some(v) => self.field(field, v, &join(path, &field.json), depth, &mut w)?,
            }
        }
        Ok(w.into_bytes())
    }

    /// Writes `value` as the field with `tag` (for the unions and bare lists, whose JSON is one field's).
    fn fields_with_tag<'f>(
        &self,
        mut fields: impl Iterator<Item = &'f FieldPlan>,
        tag: u32,
        value: &Value,
        path: &str,
        depth: usize,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        match fields.find(|f| f.desc.tag == tag) {
            Some(field) => self.field(field, value, path, depth, w),
            None => Err(ProtoError::invalid(path, format!("no field {tag}"))),
        }
    }

    fn field(
        &self,
        field: &FieldPlan,
        value: &Value,
        path: &str,
        depth: usize,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        let desc = field.desc;
        let tag = desc.tag;
        if let Kind::Map(value_kind) = desc.kind {
            let obj = value.as_object().ok_or_else(|| ProtoError::invalid(path, "expected an object"))?;
            for (key, v) in obj {
                let entry_path = join(path, key);
                let mut entry = Writer::new();
                entry.bytes_field(1, key.as_bytes());
                match value_kind {
                    MapValue::String => entry.bytes_field(2, as_str(v, &entry_path)?.as_bytes()),
                    MapValue::Bytes => {
                        entry.bytes_field(2, &wellknown::base64_decode(as_str(v, &entry_path)?, &entry_path)?)
                    }
                    MapValue::Message(name) => entry.bytes_field(2, &self.message(name, v, &entry_path, depth + 1)?),
                }
                w.bytes_field(tag, &entry.into_bytes());
            }
            return Ok(());
        }
        if desc.repeated {
            let items = value.as_array().ok_or_else(|| ProtoError::invalid(path, "expected an array"))?;
            for (i, item) in items.iter().enumerate() {
                self.single(desc.kind, tag, item, &format!("{path}[{i}]"), depth, w)?;
            }
            return Ok(());
        }
        self.single(desc.kind, tag, value, path, depth, w)
    }

    fn single(
        &self,
        kind: Kind,
        tag: u32,
        value: &Value,
        path: &str,
        depth: usize,
        w: &mut Writer,
    ) -> Result<(), ProtoError> {
        match kind {
            Kind::String => w.bytes_field(tag, as_str(value, path)?.as_bytes()),
            Kind::Bytes => w.bytes_field(tag, &wellknown::base64_decode(as_str(value, path)?, path)?),
            Kind::Bool => {
                let b = value.as_bool().ok_or_else(|| ProtoError::invalid(path, "expected a boolean"))?;
                w.varint_field(tag, u64::from(b));
            }
            Kind::Int32 => {
                let n = integer(value, path)?;
                let n = i32::try_from(n).map_err(|_| ProtoError::invalid(path, "integer out of int32 range"))?;
                w.int_field(tag, i64::from(n));
            }
            Kind::Int64 => w.int_field(tag, integer(value, path)?),
            Kind::Double => {
                let n = value.as_f64().ok_or_else(|| ProtoError::invalid(path, "expected a number"))?;
                w.double_field(tag, n);
            }
            Kind::Message(name) => w.bytes_field(tag, &self.message(name, value, path, depth + 1)?),
            Kind::Map(_) => return Err(ProtoError::invalid(path, "nested map")),
        }
        Ok(())
    }
}

fn join(path: &str, segment: &str) -> String {
    if path.is_empty() { segment.to_string() } else { format!("{path}.{segment}") }
}

fn as_str<'v>(value: &'v Value, path: &str) -> Result<&'v str, ProtoError> {
    value.as_str().ok_or_else(|| ProtoError::invalid(path, "expected a string"))
}

/// An integer, also from a float with no fraction (`2.0`).
fn integer(value: &Value, path: &str) -> Result<i64, ProtoError> {
    if let Some(n) = value.as_i64() {
        return Ok(n);
    }
    match value.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(ProtoError::invalid(path, "expected an integer")),
    }
}
