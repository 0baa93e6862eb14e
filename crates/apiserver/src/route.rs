//! Turns a request path and method into what it addresses: a discovery document,
//! an OpenAPI document, or a resource request (`RequestInfo`), like upstream's
//! request-info resolver.

use http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A request for a resource (or its subresource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub verb: Verb,
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health(String),
    /// `/api`
    CoreGroup,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    GroupVersion(String, String),
    Resource(RequestInfo),
    OpenApiV3Root,
    /// `/openapi/v3/<api/v1 | apis/g/v>`
    OpenApiV3(String),
    OpenApiV2,
    NotFound,
}

const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

fn is_watch_param(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            k == "watch" && (v == "true" || v == "1")
        })
    })
}

pub fn resolve(method: &Method, path: &str, query: Option<&str>) -> Route {
    let trimmed = path.trim_end_matches('/');
    match trimmed {
        "/version" => return Route::Version,
        "/healthz" | "/livez" | "/readyz" => return Route::Health(trimmed[1..].to_string()),
        "/api" => return Route::CoreGroup,
        "/apis" => return Route::Groups,
        "/openapi/v3" => return Route::OpenApiV3Root,
        "/openapi/v2" => return Route::OpenApiV2,
        _ => {}
    }
    if let Some(rest) = trimmed.strip_prefix("/openapi/v3/") {
        return Route::OpenApiV3(rest.to_string());
    }
    if trimmed.starts_with("/healthz/") || trimmed.starts_with("/livez/") || trimmed.starts_with("/readyz/") {
        return Route::Health(trimmed[1..].to_string());
    }
    let parts: Vec<&str> = trimmed.split('/').skip(1).collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (String::new(), version.to_string(), rest),
        ["apis", group] => return Route::Group(group.to_string()),
        ["apis", group, version, rest @ ..] => (group.to_string(), version.to_string(), rest),
        _ => return Route::NotFound,
    };
    if rest.is_empty() {
        return Route::GroupVersion(group, version);
    }
    let mut rest: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
    let mut watch = is_watch_param(query);
    if rest.first().map(String::as_str) == Some("watch") {
        watch = true;
        rest.remove(0);
    }
    let (namespace, resource, name, subresource) = match rest.as_slice() {
        [ns_kw, ns, resource, tail @ ..]
            if ns_kw == "namespaces" && !NAMESPACE_SUBRESOURCES.contains(&resource.as_str()) =>
        {
            (Some(ns.clone()), resource.clone(), tail.first().cloned(), tail.get(1).cloned())
        }
        [resource, tail @ ..] => (None, resource.clone(), tail.first().cloned(), tail.get(1).cloned()),
        [] => return Route::NotFound,
    };
    if rest.len() > 5 || resource.is_empty() {
        return Route::NotFound;
    }
    let verb = match (method, name.is_some()) {
        (&Method::GET | &Method::HEAD, true) if watch => Verb::Watch,
        (&Method::GET | &Method::HEAD, true) => Verb::Get,
        (&Method::GET | &Method::HEAD, false) if watch => Verb::Watch,
        (&Method::GET | &Method::HEAD, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => return Route::NotFound,
    };
    Route::Resource(RequestInfo { verb, group, version, namespace, resource, name, subresource })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, path: &str, query: Option<&str>) -> RequestInfo {
        match resolve(&method, path, query) {
            Route::Resource(i) => i,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn resource_paths() {
        let i = info(Method::GET, "/api/v1/namespaces/default/pods", None);
        assert_eq!((i.verb, i.namespace.as_deref(), i.resource.as_str()), (Verb::List, Some("default"), "pods"));
        let i = info(Method::GET, "/api/v1/pods", Some("watch=true"));
        assert_eq!((i.verb, i.namespace, i.resource.as_str()), (Verb::Watch, None, "pods"));
        let i = info(Method::PATCH, "/apis/apps/v1/namespaces/ns/deployments/web/scale", None);
        assert_eq!(i.group, "apps");
        assert_eq!((i.name.as_deref(), i.subresource.as_deref()), (Some("web"), Some("scale")));
        let i = info(Method::GET, "/api/v1/namespaces/kube-system", None);
        assert_eq!((i.resource.as_str(), i.name.as_deref(), i.namespace), ("namespaces", Some("kube-system"), None));
        let i = info(Method::PUT, "/api/v1/namespaces/x/finalize", None);
        assert_eq!(
            (i.resource.as_str(), i.name.as_deref(), i.subresource.as_deref()),
            ("namespaces", Some("x"), Some("finalize"))
        );
        let i = info(Method::DELETE, "/api/v1/namespaces/d/pods", None);
        assert_eq!(i.verb, Verb::DeleteCollection);
        let i = info(Method::GET, "/api/v1/watch/namespaces/d/pods/p", None);
        assert_eq!((i.verb, i.name.as_deref()), (Verb::Watch, Some("p")));
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(resolve(&Method::GET, "/api", None), Route::CoreGroup);
        assert_eq!(resolve(&Method::GET, "/apis/apps/v1", None), Route::GroupVersion("apps".into(), "v1".into()));
        assert_eq!(resolve(&Method::GET, "/apis/apps", None), Route::Group("apps".into()));
        assert_eq!(resolve(&Method::GET, "/openapi/v3/apis/apps/v1", None), Route::OpenApiV3("apis/apps/v1".into()));
        assert_eq!(resolve(&Method::GET, "/nope", None), Route::NotFound);
    }
}
