//! Building HTTP responses: JSON/YAML/protobuf bodies, `Status` errors, warnings.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use k3rs_api::ApiError;
use serde_json::Value;

use super::negotiate::Encoding;

pub const JSON: &str = "application/json";

/// A JSON body with the given status.
pub fn json(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder().status(status).header(header::CONTENT_TYPE, JSON).body(Body::from(body)).unwrap_or_default()
}

/// A body in the negotiated encoding.
pub fn encoded(status: StatusCode, value: &Value, encoding: Encoding) -> Response {
    match encoding {
        Encoding::Json => json(status, value),
        Encoding::Yaml => match serde_saphyr::to_string(value) {
            Ok(text) => Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/yaml")
                .body(Body::from(text))
                .unwrap_or_default(),
            Err(e) => error(&ApiError::internal(format!("encoding YAML: {e}"))),
        },
        Encoding::Protobuf => match super::protobuf_out::encode(value) {
            Ok(bytes) => Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/vnd.kubernetes.protobuf")
                .body(Body::from(bytes))
                .unwrap_or_default(),
            // Kinds without a protobuf form (tables, custom resources) fall back to JSON,
            // which every client also accepts.
            Err(_) => json(status, value),
        },
    }
}

/// The `Status` response of an error.
pub fn error(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(status, &err.to_status());
    if let Some(secs) = err.retry_after_seconds
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Adds `Warning: 299 - "<text>"` headers, which kubectl prints as `Warning: <text>`.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

pub fn text(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}
