//! Validation helpers shared by every kind: field errors and name rules.

mod field_error;
pub mod names;

pub use field_error::{FieldError, FieldErrorKind, FieldPath, render_value};
