//! Which protocol a streaming request asks to switch to, and the `101 Switching Protocols`
//! answers for WebSocket and SPDY.

use http::{HeaderMap, HeaderValue, StatusCode, header};

/// `Sec-WebSocket-Protocol` of port-forward over WebSocket: SPDY frames inside.
pub const SPDY_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The SPDY sub-protocol header (requested versions, then the chosen one).
pub const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";

/// What the client asked to upgrade to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeRequest {
    WebSocket { key: String, protocols: Vec<String> },
    Spdy { protocols: Vec<String> },
    None,
}

/// Every value of a (possibly repeated, comma-separated) header.
fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

pub fn classify(headers: &HeaderMap) -> UpgradeRequest {
    let connection_upgrade = values(headers, "connection").iter().any(|v| v.eq_ignore_ascii_case("upgrade"));
    let upgrade = headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !connection_upgrade {
        return UpgradeRequest::None;
    }
    if upgrade.eq_ignore_ascii_case("websocket") {
        let key = headers.get("sec-websocket-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        return UpgradeRequest::WebSocket { key, protocols: values(headers, "sec-websocket-protocol") };
    }
    if upgrade.eq_ignore_ascii_case("SPDY/3.1") {
        return UpgradeRequest::Spdy { protocols: values(headers, STREAM_PROTOCOL_HEADER) };
    }
    UpgradeRequest::None
}

fn switching(upgrade: &'static str) -> http::response::Builder {
    http::Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, upgrade)
}

/// The WebSocket handshake answer, echoing the chosen sub-protocol.
pub fn websocket_accept<B: Default>(key: &str, protocol: Option<&str>) -> http::Response<B> {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut builder = switching("websocket").header("sec-websocket-accept", accept);
    if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        builder = builder.header("sec-websocket-protocol", p);
    }
    builder.body(B::default()).unwrap_or_default()
}

/// The SPDY upgrade answer with the chosen stream protocol.
pub fn spdy_accept<B: Default>(protocol: &'static str) -> http::Response<B> {
    switching("SPDY/3.1").header(STREAM_PROTOCOL_HEADER, protocol).body(B::default()).unwrap_or_default()
}

/// Picks the first protocol the client offered that `supported` contains.
pub fn negotiate_spdy<'a>(offered: &[String], supported: &[&'a str]) -> Option<&'a str> {
    offered.iter().find_map(|o| supported.iter().find(|s| **s == o.as_str()).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn classifies_upgrades() {
        let ws = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "v5.channel.k8s.io, v4.channel.k8s.io"),
            ("sec-websocket-protocol", "base64.channel.k8s.io"),
        ]);
        assert_eq!(
            classify(&ws),
            UpgradeRequest::WebSocket {
                key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
                protocols: vec!["v5.channel.k8s.io".into(), "v4.channel.k8s.io".into(), "base64.channel.k8s.io".into()],
            }
        );
        let spdy = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v5.channel.k8s.io"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
        ]);
        let UpgradeRequest::Spdy { protocols } = classify(&spdy) else { panic!() };
        assert_eq!(negotiate_spdy(&protocols, &["v4.channel.k8s.io", "v3.channel.k8s.io"]), Some("v4.channel.k8s.io"));
        assert_eq!(negotiate_spdy(&protocols, &["portforward.k8s.io"]), None);
        assert_eq!(classify(&headers(&[("upgrade", "websocket")])), UpgradeRequest::None);
    }

    #[test]
    fn websocket_answer_carries_the_accept_key() {
        let resp: http::Response<()> = websocket_accept("dGhlIHNhbXBsZSBub25jZQ==", Some("v5.channel.k8s.io"));
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        // The example of RFC 6455, section 1.3.
        assert_eq!(resp.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(resp.headers()["sec-websocket-protocol"], "v5.channel.k8s.io");
        let resp: http::Response<()> = spdy_accept("portforward.k8s.io");
        assert_eq!(resp.headers()["x-stream-protocol-version"], "portforward.k8s.io");
        assert_eq!(resp.headers()["upgrade"], "SPDY/3.1");
    }
}
