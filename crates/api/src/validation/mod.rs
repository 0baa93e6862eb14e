//! Validation helpers shared by every kind: field errors and name rules.

mod field_error;
pub mod names;
mod object_meta;
mod unknown_fields;

pub use field_error::{FieldError, FieldErrorKind, FieldPath, render_value};
pub use object_meta::validate_object_meta;
pub use unknown_fields::unknown_fields;
