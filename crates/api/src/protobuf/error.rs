//! Errors of the protobuf codec. The API server answers decode errors with
//! 400 BadRequest, and encode errors with 406 NotAcceptable (the client should
//! ask for JSON instead).

use super::wire::WireError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf body does not start with the Kubernetes \"k8s\\x00\" prefix")]
    MissingMagic,
    #[error("malformed protobuf{}: {message}", at(.path))]
    Malformed { path: String, message: String },
    #[error("no protobuf message is known for kind {kind:?} in {api_version:?}")]
    UnsupportedKind { api_version: String, kind: String },
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("cannot encode {path} as protobuf: {message}")]
    InvalidValue { path: String, message: String },
    #[error("protobuf data nested deeper than {0} levels")]
    TooDeep(usize),
}

impl ProtoError {
    pub(super) fn malformed(path: &str, message: impl std::fmt::Display) -> Self {
        ProtoError::Malformed { path: path.to_string(), message: message.to_string() }
    }

    pub(super) fn invalid(path: &str, message: impl std::fmt::Display) -> Self {
        ProtoError::InvalidValue { path: path.to_string(), message: message.to_string() }
    }

    /// Prefixes the location of a malformed field with the field that holds it,
    /// so messages read `spec.template.spec.containers: …` as errors bubble up.
    pub(super) fn within(self, segment: &str) -> Self {
        match self {
            ProtoError::Malformed { path, message } => ProtoError::Malformed { path: join(segment, &path), message },
            other => other,
        }
    }

    /// Whether the kind has no protobuf form (the API server answers 406 to a
    /// protobuf-only Accept, or 400/415 to such a body).
    pub fn is_unsupported_kind(&self) -> bool {
        matches!(self, ProtoError::UnsupportedKind { .. })
    }
}

fn at(path: &str) -> String {
    if path.is_empty() { String::new() } else { format!(" at {path}") }
}

fn join(segment: &str, rest: &str) -> String {
    if rest.is_empty() {
        segment.to_string()
    } else if rest.starts_with('[') {
        format!("{segment}{rest}")
    } else {
        format!("{segment}.{rest}")
    }
}

impl From<WireError> for ProtoError {
    fn from(e: WireError) -> Self {
        ProtoError::malformed("", e)
    }
}
