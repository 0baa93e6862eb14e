//! Kubernetes `Status` objects as the streaming protocols carry them: on the error channel
//! of exec/attach (v4 and later) and as bodies of failed requests.

use serde_json::{Value, json};

use super::backend::BackendError;

/// Why a request failed, as `Status.reason`.
pub fn reason_for(code: http::StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    }
}

/// A failure `Status` with an HTTP code.
pub fn failure(code: http::StatusCode, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason_for(code),
        "code": code.as_u16(),
    })
}

/// The `Status` written when a process ended with exit code 0 (or an attach ended).
pub fn success() -> Value {
    json!({"metadata": {}, "status": "Success"})
}

/// The `Status` of a process that exited with a non-zero code. kubectl exits with the code
/// found in the `ExitCode` cause.
pub fn non_zero_exit(code: i32) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: exit status {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The `Status` of a session the backend could not run.
pub fn backend_failure(err: &BackendError) -> Value {
    // Upstream reports runtime failures of a running session as internal errors.
    let message = match err {
        BackendError::Internal(m) => format!("Internal error occurred: {m}"),
        other => other.to_string(),
    };
    let mut status = failure(err.status_code(), &message);
    if let Some(obj) = status.as_object_mut() {
        obj.remove("kind");
        obj.remove("apiVersion");
    }
    status
}

/// The final status of an exec session.
pub fn for_exit(result: &Result<i32, BackendError>) -> Value {
    match result {
        Ok(0) => success(),
        Ok(code) => non_zero_exit(*code),
        Err(e) => backend_failure(e),
    }
}

/// The plain-text error that protocols before v4 put on their error channel (nothing on
/// success; they cannot carry an exit code).
pub fn legacy_error_text(status: &Value) -> Option<String> {
    (status["status"] != "Success").then(|| status["message"].as_str().unwrap_or("error").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_become_causes() {
        let s = for_exit(&Ok(3));
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        assert_eq!(for_exit(&Ok(0)), success());
        assert_eq!(legacy_error_text(&success()), None);
        assert!(legacy_error_text(&s).unwrap().contains("exit status 3"));
    }

    #[test]
    fn backend_errors_keep_their_code() {
        let s = for_exit(&Err(BackendError::NotFound("container \"c\" not found".into())));
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        let s = for_exit(&Err(BackendError::Internal("boom".into())));
        assert_eq!(s["message"], "Internal error occurred: boom");
    }
}
