//! Service-account tokens: JWTs signed with the cluster's service-account key (ES256).
//!
//! Bound tokens (TokenRequest, projected volumes) carry upstream's claims: `iss`, `sub`,
//! `aud`, `exp`/`iat`/`nbf`, `jti` and a `kubernetes.io` object naming the service account
//! and the pod, secret or node the token is bound to; they stop working when they expire or
//! when that object (or the service account) is gone or replaced. Legacy tokens
//! (`kubernetes/serviceaccount` issuer, kept in Secrets of type
//! `kubernetes.io/service-account-token`) stay valid while their Secret holds them.

use k3rs_api::meta;
use k3rs_pki::jwt::{JwtSigner, JwtVerifier};
use serde_json::{Value, json};

use super::UserInfo;
use crate::state::AppState;

/// The issuer of legacy Secret-based tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
/// Default issuer and audience, as K3s sets them.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Group of every service account, and prefix of the per-namespace group.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// Clock skew tolerated on `nbf` and `iat`.
const LEEWAY_SECONDS: i64 = 60;

/// `system:serviceaccount:<ns>:<name>`.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// (namespace, name) of a service-account user name.
pub fn split_username(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The groups of a service account in `namespace`.
pub fn groups(namespace: &str) -> Vec<String> {
    vec![SERVICE_ACCOUNTS_GROUP.into(), format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}")]
}

/// An object a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundObject {
    /// `Pod`, `Secret` or `Node`.
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// What a new bound token says.
#[derive(Debug, Clone)]
pub struct TokenSpec<'a> {
    pub namespace: &'a str,
    pub service_account: &'a str,
    pub service_account_uid: &'a str,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    pub bound: Option<BoundObject>,
    /// The node of a pod-bound token (name, uid), as upstream adds it.
    pub node: Option<(String, String)>,
}

/// Signs service-account tokens and knows the issuer and the audiences the server accepts.
pub struct TokenIssuer {
    signer: JwtSigner,
    verifier: JwtVerifier,
    pub issuer: String,
    pub audiences: Vec<String>,
}

impl TokenIssuer {
    pub fn new(key: &k3rs_pki::ServiceAccountKey, issuer: String, audiences: Vec<String>) -> k3rs_pki::Result<Self> {
        Ok(TokenIssuer { signer: key.signer()?, verifier: key.verifier(), issuer, audiences })
    }

    /// A bound token and its expiry (unix seconds).
    pub fn issue(&self, spec: &TokenSpec<'_>, now: i64) -> Result<(String, i64), String> {
        let exp = now + spec.expiration_seconds;
        let mut k8s = json!({
            "namespace": spec.namespace,
            "serviceaccount": {"name": spec.service_account, "uid": spec.service_account_uid},
        });
        if let Some(b) = &spec.bound {
            let field = b.kind.to_ascii_lowercase();
            k8s[field] = json!({"name": b.name, "uid": b.uid});
        }
        if let Some((name, uid)) = &spec.node {
            k8s["node"] = json!({"name": name, "uid": uid});
        }
        let claims = json!({
            "aud": spec.audiences,
            "exp": exp,
            "iat": now,
            "iss": self.issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "nbf": now,
            "sub": username(spec.namespace, spec.service_account),
        });
        Ok((self.signer.sign(&claims).map_err(|e| e.to_string())?, exp))
    }

    /// A legacy token for a `kubernetes.io/service-account-token` Secret.
    pub fn issue_legacy(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        secret_name: &str,
    ) -> Result<String, String> {
        let claims = json!({
            "iss": LEGACY_ISSUER,
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": sa_name,
            "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
            "sub": username(namespace, sa_name),
        });
        self.signer.sign(&claims).map_err(|e| e.to_string())
    }

    pub fn verifier(&self) -> &JwtVerifier {
        &self.verifier
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Authenticates a service-account JWT; the error says why it is refused (for logs only).
pub async fn authenticate(state: &AppState, token: &str) -> Result<UserInfo, String> {
    let issuer = &state.tokens;
    let claims = issuer.verifier().verify(token).map_err(|e| e.to_string())?;
    match claims.get("iss").and_then(Value::as_str) {
        Some(LEGACY_ISSUER) => authenticate_legacy(state, token, &claims).await,
        Some(iss) if iss == issuer.issuer => {
            authenticate_bound(state, &claims, jiff::Timestamp::now().as_second()).await
        }
        other => Err(format!("unknown issuer {other:?}")),
    }
}

/// Checks times and audiences of bound-token claims at `now`.
pub fn check_claims(claims: &Value, audiences: &[String], now: i64) -> Result<(), String> {
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or("no exp claim")?;
    if exp <= now {
        return Err("token has expired".into());
    }
    if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now + LEEWAY_SECONDS) {
        return Err("token is not valid yet".into());
    }
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !aud.iter().any(|a| audiences.iter().any(|ours| ours == a)) {
        return Err(format!("token audiences {aud:?} are not accepted by this server"));
    }
    Ok(())
}

async fn authenticate_bound(state: &AppState, claims: &Value, now: i64) -> Result<UserInfo, String> {
    check_claims(claims, &state.tokens.audiences, now)?;
    let k8s = claims.get("kubernetes.io").ok_or("no kubernetes.io claim")?;
    let ns = str_at(k8s, "/namespace");
    let sa_name = str_at(k8s, "/serviceaccount/name");
    let sa_uid = str_at(k8s, "/serviceaccount/uid");
    if ns.is_empty() || sa_name.is_empty() {
        return Err("token names no service account".into());
    }
    let sa =
        get(state, &format!("/registry/serviceaccounts/{ns}/{sa_name}")).await?.ok_or("service account is gone")?;
    if meta::uid(&sa) != sa_uid {
        return Err("service account was replaced".into());
    }
    let mut user = UserInfo::authenticated(username(ns, sa_name), groups(ns));
    user.uid = sa_uid.to_string();
    for (kind, prefix) in [("pod", "pods"), ("secret", "secrets")] {
        let name = str_at(k8s, &format!("/{kind}/name"));
        if name.is_empty() {
            continue;
        }
        let obj =
            get(state, &format!("/registry/{prefix}/{ns}/{name}")).await?.ok_or(format!("bound {kind} is gone"))?;
        if meta::uid(&obj) != str_at(k8s, &format!("/{kind}/uid")) {
            return Err(format!("bound {kind} was replaced"));
        }
        if kind == "pod" {
            if deleted_long_ago(&obj, now) {
                return Err("bound pod was deleted".into());
            }
            user.extra.insert("authentication.kubernetes.io/pod-name".into(), vec![name.to_string()]);
            user.extra.insert("authentication.kubernetes.io/pod-uid".into(), vec![meta::uid(&obj).to_string()]);
        }
    }
    let node = str_at(k8s, "/node/name");
    if !node.is_empty() {
        // A node-bound token dies with its node; a pod-bound one only records where the pod ran.
        let bound_to_node = str_at(k8s, "/pod/name").is_empty();
        if bound_to_node {
            let obj = get(state, &format!("/registry/nodes/{node}")).await?.ok_or("bound node is gone")?;
            if meta::uid(&obj) != str_at(k8s, "/node/uid") {
                return Err("bound node was replaced".into());
            }
        }
        user.extra.insert("authentication.kubernetes.io/node-name".into(), vec![node.to_string()]);
        user.extra.insert("authentication.kubernetes.io/node-uid".into(), vec![str_at(k8s, "/node/uid").to_string()]);
    }
    if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
        user.extra.insert("authentication.kubernetes.io/credential-id".into(), vec![format!("JTI={jti}")]);
    }
    Ok(user)
}

/// Upstream keeps a deleted pod's tokens working for a minute of its graceful termination.
fn deleted_long_ago(obj: &Value, now: i64) -> bool {
    meta::deletion_timestamp(obj)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_some_and(|t| t.as_second() + LEEWAY_SECONDS < now)
}

async fn authenticate_legacy(state: &AppState, token: &str, claims: &Value) -> Result<UserInfo, String> {
    let field = |k: &str| claims.get(format!("kubernetes.io/serviceaccount/{k}")).and_then(Value::as_str).unwrap_or("");
    let (ns, secret_name, sa_name, sa_uid) =
        (field("namespace"), field("secret.name"), field("service-account.name"), field("service-account.uid"));
    if ns.is_empty() || secret_name.is_empty() || sa_name.is_empty() {
        return Err("legacy token lacks its claims".into());
    }
    let secret = get(state, &format!("/registry/secrets/{ns}/{secret_name}")).await?.ok_or("token Secret is gone")?;
    let stored = crate::authn::bootstrap_token::data_field(&secret, "token").unwrap_or_default();
    if stored != token {
        return Err("token Secret holds another token".into());
    }
    let sa =
        get(state, &format!("/registry/serviceaccounts/{ns}/{sa_name}")).await?.ok_or("service account is gone")?;
    if meta::uid(&sa) != sa_uid {
        return Err("service account was replaced".into());
    }
    let mut user = UserInfo::authenticated(username(ns, sa_name), groups(ns));
    user.uid = sa_uid.to_string();
    user.extra.insert("authentication.kubernetes.io/credential-id".into(), vec![format!("Secret={secret_name}")]);
    Ok(user)
}

async fn get(state: &AppState, key: &str) -> Result<Option<Value>, String> {
    state.get_object(key).await.map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(username("ns", "sa"), "system:serviceaccount:ns:sa");
        assert_eq!(split_username("system:serviceaccount:ns:sa"), Some(("ns", "sa")));
        assert_eq!(split_username("system:serviceaccount:ns"), None);
        assert_eq!(split_username("jane"), None);
        assert_eq!(groups("ns"), vec!["system:serviceaccounts", "system:serviceaccounts:ns"]);
    }

    #[test]
    fn claims_are_checked_for_time_and_audience() {
        let aud = vec!["https://kubernetes.default.svc.cluster.local".to_string()];
        let ok = json!({"exp": 200, "nbf": 100, "aud": aud});
        assert_eq!(check_claims(&ok, &aud, 150), Ok(()));
        assert_eq!(check_claims(&ok, &aud, 200), Err("token has expired".into()));
        assert!(check_claims(&ok, &["other".to_string()], 150).is_err());
        assert!(check_claims(&json!({"exp": 500, "nbf": 400, "aud": aud}), &aud, 100).is_err());
        assert!(check_claims(&json!({"aud": aud}), &aud, 100).is_err());
    }

    #[test]
    fn issued_tokens_carry_upstream_claims() {
        let key = rcgen::KeyPair::generate().unwrap();
        let signer = JwtSigner::new(&key.serialize_der(), "k".into()).unwrap();
        let issuer = TokenIssuer {
            signer,
            verifier: JwtVerifier::new(key.public_key_raw().to_vec()),
            issuer: DEFAULT_ISSUER.into(),
            audiences: vec![DEFAULT_ISSUER.into()],
        };
        let spec = TokenSpec {
            namespace: "default",
            service_account: "builder",
            service_account_uid: "u1",
            audiences: vec![DEFAULT_ISSUER.into()],
            expiration_seconds: 3600,
            bound: Some(BoundObject { kind: "Pod".into(), name: "p".into(), uid: "u2".into() }),
            node: Some(("n1".into(), "u3".into())),
        };
        let (token, exp) = issuer.issue(&spec, 1000).unwrap();
        assert_eq!(exp, 4600);
        let claims = issuer.verifier().verify(&token).unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:default:builder");
        assert_eq!(claims["kubernetes.io"]["pod"]["uid"], "u2");
        assert_eq!(claims["kubernetes.io"]["node"]["name"], "n1");
        assert_eq!(check_claims(&claims, &issuer.audiences, 1001), Ok(()));
    }
}
