//! The error a controller's sync returns; any error requeues the key with back-off.

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", message(.0))]
    Api(#[from] kube::Error),
    /// The object cannot be acted on as it is (bad selector, bad template...).
    #[error("{0}")]
    Invalid(String),
    /// Anything else worth a retry.
    #[error("{0}")]
    Failed(String),
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

pub fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
}

pub fn is_conflict(e: &kube::Error) -> bool {
    status_code(e) == Some(409) && !is_already_exists(e)
}

pub fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

/// A namespace being terminated refuses new objects with 403 Forbidden.
pub fn is_forbidden(e: &kube::Error) -> bool {
    status_code(e) == Some(403)
}

/// The message of an API error as upstream prints it in events ("pods \"x\" is forbidden: ...").
pub fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}
