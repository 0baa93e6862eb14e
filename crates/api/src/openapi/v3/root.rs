//! The `/openapi/v3` discovery document and the hashes that make each
//! group-version document's URL immutable.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

/// Where a group-version's document lives under `/openapi/v3/`: `api/v1`, `apis/apps/v1`.
pub fn document_key(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// The (group, version) of a document key; `None` for anything else (`apis/apps`, `version`).
pub fn parse_document_key(key: &str) -> Option<(&str, &str)> {
    let key = key.trim_matches('/');
    if let Some(version) = key.strip_prefix("api/") {
        return (!version.is_empty() && !version.contains('/')).then_some(("", version));
    }
    let (group, version) = key.strip_prefix("apis/")?.split_once('/')?;
    (!group.is_empty() && !version.is_empty() && !version.contains('/')).then_some((group, version))
}

/// The `/openapi/v3` document: `{"paths": {"<key>": {"serverRelativeURL": "/openapi/v3/<key>?hash=<hash>"}}}`
/// for each (document key, hash of the document's served bytes).
pub fn root(entries: &[(String, String)]) -> Value {
    let paths: Map<String, Value> = entries
        .iter()
        .map(|(key, hash)| (key.clone(), json!({"serverRelativeURL": server_relative_url(key, hash)})))
        .collect();
    json!({"paths": paths})
}

/// `/openapi/v3/<key>?hash=<hash>`.
pub fn server_relative_url(key: &str, hash: &str) -> String {
    format!("/openapi/v3/{}?hash={hash}", key.trim_matches('/'))
}

/// The hash of a document's bytes as upstream computes it: SHA-512, upper-case
/// hex. Hash exactly the bytes served; it doubles as the `Etag`.
pub fn document_hash(doc_bytes: &[u8]) -> String {
    hex::encode_upper(Sha512::digest(doc_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_lists_hashed_urls() {
        let v = root(&[("api/v1".into(), "AB12".into()), ("apis/apps/v1".into(), "CD34".into())]);
        assert_eq!(v["paths"]["api/v1"]["serverRelativeURL"], "/openapi/v3/api/v1?hash=AB12");
        assert_eq!(v["paths"]["apis/apps/v1"]["serverRelativeURL"], "/openapi/v3/apis/apps/v1?hash=CD34");
        assert_eq!(v.as_object().map(|m| m.len()), Some(1));
    }

    #[test]
    fn hash_is_upper_case_sha512() {
        let h = document_hash(b"{}");
        assert_eq!(h.len(), 128);
        assert!(h.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(h, document_hash(b"{ }"));
        assert_eq!(&document_hash(b"")[..16], "CF83E1357EEFB8BD");
    }

    #[test]
    fn document_keys_round_trip() {
        assert_eq!(document_key("", "v1"), "api/v1");
        assert_eq!(document_key("apps", "v1"), "apis/apps/v1");
        assert_eq!(parse_document_key("api/v1"), Some(("", "v1")));
        assert_eq!(parse_document_key("/apis/networking.k8s.io/v1"), Some(("networking.k8s.io", "v1")));
        assert_eq!(parse_document_key("apis/apps"), None);
        assert_eq!(parse_document_key("apis/apps/v1/x"), None);
        assert_eq!(parse_document_key("version"), None);
        assert_eq!(parse_document_key("api/"), None);
    }
}
