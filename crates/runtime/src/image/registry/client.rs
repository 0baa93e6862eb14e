//! A minimal registry HTTP client: GET with `Accept` headers, redirects (dropping
//! credentials when the host changes), and the authentication dance: on 401 the
//! `WWW-Authenticate` challenge says either Basic (send the credentials) or Bearer (fetch a
//! token from the realm, with the credentials if any, and send the token).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::config::{HostConfig, TlsConfig};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// A client for one registry endpoint.
pub(crate) struct RegistryClient {
    client: HttpsClient,
    base: String,
    credentials: Option<(String, String)>,
    authorization: Option<String>,
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub(crate) fn parse_challenge(value: &str) -> Option<Challenge> {
    let (scheme, params) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut scope = None;
    // key="value" pairs separated by commas; values may contain commas inside quotes.
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            "scope" => scope = Some(value.to_string()),
            _ => {}
        }
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer { realm: realm?, service, scope })
}

fn tls_config(tls: Option<&TlsConfig>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if tls.is_some_and(|t| t.insecure_skip_verify) {
        builder.dangerous().with_custom_certificate_verifier(k3rs_pki::AcceptAnyServerCertificate::new(provider))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(ca_file) = tls.and_then(|t| t.ca_file.as_ref()) {
            let pem = std::fs::read(ca_file).map_err(|e| format!("ca_file {}: {e}", ca_file.display()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| format!("ca_file {}: {e}", ca_file.display()))?;
                roots.add(cert).map_err(|e| format!("ca_file {}: {e}", ca_file.display()))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match tls.and_then(|t| t.cert_file.as_ref().zip(t.key_file.as_ref())) {
        Some((cert_file, key_file)) => {
            let certs = std::fs::read(cert_file).map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
            let certs = rustls_pemfile::certs(&mut certs.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
            let key = std::fs::read(key_file).map_err(|e| format!("key_file {}: {e}", key_file.display()))?;
            let key = rustls_pemfile::private_key(&mut key.as_slice())
                .map_err(|e| format!("key_file {}: {e}", key_file.display()))?
                .ok_or_else(|| format!("key_file {}: no private key", key_file.display()))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| e.to_string())
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

fn host_of(url: &str) -> Option<String> {
    url.parse::<http::Uri>().ok().and_then(|u| u.authority().map(|a| a.to_string()))
}

impl RegistryClient {
    pub(crate) fn new(
        base: &str,
        host: Option<&HostConfig>,
        credentials: Option<(String, String)>,
    ) -> Result<Self, String> {
        let tls = tls_config(host.and_then(|h| h.tls.as_ref()))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(RegistryClient { client, base: base.to_string(), credentials, authorization: None })
    }

    /// GETs `path` (below the endpoint's `/v2/`), authenticating and following redirects.
    pub(crate) async fn get(&mut self, path: &str, accept: &[&str]) -> Result<Response<Incoming>, String> {
        let url = format!("{}/v2/{path}", self.base);
        let mut authenticated = false;
        loop {
            let response = self.send(&url, accept, true).await?;
            if response.status() == StatusCode::UNAUTHORIZED && !authenticated {
                let challenge = response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge)
                    .ok_or("401 Unauthorized without a usable WWW-Authenticate challenge")?;
                self.authenticate(challenge).await?;
                authenticated = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends a GET, following up to five redirects; credentials go only to the endpoint's host.
    async fn send(&self, url: &str, accept: &[&str], with_auth: bool) -> Result<Response<Incoming>, String> {
        let own_host = host_of(&self.base);
        let mut url = url.to_string();
        for _ in 0..6 {
            let mut request = Request::get(&url);
            for value in accept {
                request = request.header(header::ACCEPT, *value);
            }
            if with_auth
                && host_of(&url) == own_host
                && let Some(authorization) = &self.authorization
            {
                request = request.header(header::AUTHORIZATION, authorization);
            }
            let request = request.body(Empty::new()).map_err(|e| format!("request {url}: {e}"))?;
            let response = self.client.request(request).await.map_err(|e| format!("GET {url}: {e}"))?;
            if response.status().is_redirection()
                && let Some(location) = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok())
            {
                url = resolve_location(&url, location);
                continue;
            }
            return Ok(response);
        }
        Err(format!("GET {url}: too many redirects"))
    }

    async fn authenticate(&mut self, challenge: Challenge) -> Result<(), String> {
        use base64::Engine as _;
        let basic = self.credentials.as_ref().map(|(user, password)| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
        });
        match challenge {
            Challenge::Basic => {
                self.authorization = Some(basic.ok_or("the registry asks for credentials and none are configured")?);
                Ok(())
            }
            Challenge::Bearer { realm, service, scope } => {
                let mut query = Vec::new();
                if let Some(service) = service {
                    query.push(format!("service={}", encode(&service)));
                }
                if let Some(scope) = scope {
                    query.push(format!("scope={}", encode(&scope)));
                }
                let separator = if realm.contains('?') { '&' } else { '?' };
                let url =
                    if query.is_empty() { realm.clone() } else { format!("{realm}{separator}{}", query.join("&")) };
                let mut request = Request::get(&url);
                if let Some(basic) = &basic {
                    request = request.header(header::AUTHORIZATION, basic);
                }
                let request = request.body(Empty::new()).map_err(|e| format!("token request: {e}"))?;
                let response =
                    self.client.request(request).await.map_err(|e| format!("token request to {realm}: {e}"))?;
                let status = response.status();
                let body = read_body(response, MAX_TOKEN_RESPONSE).await?;
                if !status.is_success() {
                    return Err(format!("token request to {realm}: {status}"));
                }
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let token: Token = serde_json::from_slice(&body).map_err(|e| format!("token response: {e}"))?;
                let token = token.token.or(token.access_token).ok_or("token response holds no token")?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(())
            }
        }
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin = base.parse::<http::Uri>().ok().and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)));
    match origin {
        Some(origin) if location.starts_with('/') => format!("{origin}{location}"),
        _ => location.to_string(),
    }
}

/// Reads a whole body, refusing more than `limit` bytes.
pub(crate) async fn read_body(response: Response<Incoming>, limit: usize) -> Result<Bytes, String> {
    let limited = http_body_util::Limited::new(response.into_body(), limit);
    limited.collect().await.map(|c| c.to_bytes()).map_err(|e| format!("reading response: {e}"))
}

/// The content type of a response, without parameters.
pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let bearer = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#;
        assert_eq!(
            parse_challenge(bearer),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="registry""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn redirects_and_encoding() {
        assert_eq!(resolve_location("http://a:1/v2/x", "/blobs/y"), "http://a:1/blobs/y");
        assert_eq!(resolve_location("http://a/v2/x", "https://cdn/y"), "https://cdn/y");
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
