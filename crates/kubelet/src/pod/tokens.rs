//! Service-account tokens for projected volumes, from the API server's TokenRequest
//! (`POST serviceaccounts/<name>/token`), bound to the pod. A token is reused until 80%
//! of its lifetime has passed or it is older than 24 hours, then a fresh one is requested
//! (upstream's token manager rule), so the volume's file is rewritten before expiry.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Api;
use kube::api::PostParams;

use super::context::Context;

/// The longest a token is used before it is refreshed, whatever its lifetime.
const MAX_TOKEN_AGE: SignedDuration = SignedDuration::from_hours(24);

#[derive(Clone, Debug)]
struct Issued {
    token: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
}

impl Issued {
    /// When the token should be replaced.
    fn refresh_at(&self) -> Timestamp {
        let lifetime = self.expires_at.duration_since(self.issued_at);
        let by_ratio = self.issued_at + lifetime.mul_f64(0.8);
        let by_age = self.issued_at + MAX_TOKEN_AGE;
        by_ratio.min(by_age)
    }
}

/// The tokens of one pod, by (audience, requested lifetime).
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    issued: HashMap<(Option<String>, i64), Issued>,
}

impl TokenCache {
    /// The earliest time a cached token needs refreshing (the worker wakes up then).
    pub fn next_refresh(&self) -> Option<Timestamp> {
        self.issued.values().map(Issued::refresh_at).min()
    }

    /// A valid token for the pod's service account, requesting one when needed.
    pub async fn token(
        &mut self,
        context: &Context,
        pod: &Pod,
        audience: Option<&str>,
        expiration_seconds: i64,
    ) -> Result<String, String> {
        let key = (audience.map(String::from), expiration_seconds);
        let now = Timestamp::now();
        if let Some(issued) = self.issued.get(&key)
            && now < issued.refresh_at()
        {
            return Ok(issued.token.clone());
        }
        match request(context, pod, audience, expiration_seconds).await {
            Ok(issued) => {
                let token = issued.token.clone();
                self.issued.insert(key, issued);
                Ok(token)
            }
            // Keep using a token that is still valid if the refresh failed.
            Err(err) => match self.issued.get(&key) {
                Some(issued) if now < issued.expires_at => Ok(issued.token.clone()),
                _ => Err(err),
            },
        }
    }
}

async fn request(
    context: &Context,
    pod: &Pod,
    audience: Option<&str>,
    expiration_seconds: i64,
) -> Result<Issued, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone().or_else(|| s.service_account.clone()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: audience.map(|a| vec![a.to_string()]).unwrap_or_default(),
            expiration_seconds: Some(expiration_seconds),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..Default::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(context.client.clone(), &namespace);
    let issued_at = Timestamp::now();
    let response: TokenRequest =
        api.create_subresource("token", &account, &PostParams::default(), &request).await.map_err(|err| match err {
            kube::Error::Api(status) if status.code == 404 && status.message.contains("the server could not find") => {
                format!(
                    "cannot issue a token for service account {namespace}/{account}: \
                     the API server does not serve serviceaccounts/token (TokenRequest)"
                )
            }
            other => format!("failed to fetch token for service account {namespace}/{account}: {other}"),
        })?;
    let status = response.status.ok_or_else(|| "the TokenRequest response has no status".to_string())?;
    let expires_at = status.expiration_timestamp.0;
    Ok(Issued { token: status.token, issued_at, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_refresh_at_eighty_percent_or_a_day() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let hour = Issued { token: "t".into(), issued_at: t0, expires_at: t0 + SignedDuration::from_secs(3600) };
        assert_eq!(hour.refresh_at(), t0 + SignedDuration::from_secs(2880));
        let long = Issued { token: "t".into(), issued_at: t0, expires_at: t0 + SignedDuration::from_hours(24 * 30) };
        assert_eq!(long.refresh_at(), t0 + SignedDuration::from_hours(24));
    }
}
