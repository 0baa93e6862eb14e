//! Why a patch could not be applied, and how the API server reports it.

use crate::error::{ApiError, Reason};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is malformed (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
    /// The patch is well-formed but does not apply to this object (422, like
    /// upstream's answer to a failing JSON patch operation).
    #[error("{0}")]
    Unprocessable(String),
    /// More JSON patch operations than the server accepts (413).
    #[error("{0}")]
    TooLarge(String),
}

impl PatchError {
    pub fn reason(&self) -> Reason {
        match self {
            PatchError::BadRequest(_) => Reason::BadRequest,
            PatchError::Unprocessable(_) => Reason::Invalid,
            PatchError::TooLarge(_) => Reason::RequestEntityTooLarge,
        }
    }
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        let reason = e.reason();
        let message = match e {
            PatchError::BadRequest(m) | PatchError::Unprocessable(m) | PatchError::TooLarge(m) => m,
        };
        ApiError::new(reason, message)
    }
}
