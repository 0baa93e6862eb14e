//! Field errors with upstream's wording (`spec.replicas: Invalid value: -1: must be ...`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum FieldErrorKind {
    Required,
    Invalid(Value),
    NotSupported(Value, Vec<String>),
    Duplicate(Value),
    Forbidden,
    TooLong(usize),
    TooMany(usize),
    NotFound(Value),
    TypeInvalid(Value),
}

impl FieldErrorKind {
    /// The `details.causes[].reason` upstream uses.
    pub fn reason(&self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid(_) => "FieldValueInvalid",
            FieldErrorKind::NotSupported(..) => "FieldValueNotSupported",
            FieldErrorKind::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong(_) => "FieldValueTooLong",
            FieldErrorKind::TooMany(_) => "FieldValueTooMany",
            FieldErrorKind::NotFound(_) => "FieldValueNotFound",
            FieldErrorKind::TypeInvalid(_) => "FieldValueTypeInvalid",
        }
    }
}

/// One problem with one field of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// Path as upstream writes it: `spec.template.spec.containers[0].image`, `metadata.labels[app]`.
    pub field: String,
    pub detail: String,
}

/// Renders a value the way upstream's messages show it: strings quoted, numbers bare.
pub fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { kind: FieldErrorKind::Required, field: field.into(), detail: detail.into() }
    }

    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        FieldError { kind: FieldErrorKind::Invalid(value.into()), field: field.into(), detail: detail.into() }
    }

    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, valid: &[&str]) -> Self {
        FieldError {
            kind: FieldErrorKind::NotSupported(value.into(), valid.iter().map(|s| s.to_string()).collect()),
            field: field.into(),
            detail: String::new(),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError { kind: FieldErrorKind::Duplicate(value.into()), field: field.into(), detail: String::new() }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { kind: FieldErrorKind::Forbidden, field: field.into(), detail: detail.into() }
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        FieldError {
            kind: FieldErrorKind::TooLong(max),
            field: field.into(),
            detail: format!("may not be more than {max} bytes"),
        }
    }

    pub fn too_many(field: impl Into<String>, max: usize) -> Self {
        FieldError {
            kind: FieldErrorKind::TooMany(max),
            field: field.into(),
            detail: format!("must have at most {max} items"),
        }
    }

    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError { kind: FieldErrorKind::NotFound(value.into()), field: field.into(), detail: String::new() }
    }

    pub fn type_invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        FieldError { kind: FieldErrorKind::TypeInvalid(value.into()), field: field.into(), detail: detail.into() }
    }

    /// The message without the field path, as `details.causes[].message` carries it.
    pub fn cause_message(&self) -> String {
        let head = match &self.kind {
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Invalid(v) => format!("Invalid value: {}", render_value(v)),
            FieldErrorKind::NotSupported(v, valid) => {
                let list = valid.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
                if list.is_empty() {
                    format!("Unsupported value: {}", render_value(v))
                } else {
                    format!("Unsupported value: {}: supported values: {list}", render_value(v))
                }
            }
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {}", render_value(v)),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::TooLong(_) => "Too long".to_string(),
            FieldErrorKind::TooMany(_) => "Too many".to_string(),
            FieldErrorKind::NotFound(v) => format!("Not found: {}", render_value(v)),
            FieldErrorKind::TypeInvalid(v) => format!("Invalid value: {}", render_value(v)),
        };
        if self.detail.is_empty() { head } else { format!("{head}: {}", self.detail) }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.cause_message())
    }
}

/// Builds field paths the way upstream prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn root(name: &str) -> Self {
        FieldPath(name.to_string())
    }

    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { FieldPath(name.to_string()) } else { FieldPath(format!("{}.{name}", self.0)) }
    }

    pub fn index(&self, i: usize) -> Self {
        FieldPath(format!("{}[{i}]", self.0))
    }

    pub fn key(&self, k: &str) -> Self {
        FieldPath(format!("{}[{k}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.0
    }
}

impl From<&FieldPath> for String {
    fn from(p: &FieldPath) -> String {
        p.0.clone()
    }
}
