//! One OpenAPI operation (an HTTP method on a path) and the shapes its request
//! body and responses take.

use serde_json::{Map, Value, json};

use super::params::Query;
use crate::resource::GroupVersionKind;
use crate::schema::REF_PREFIX;

/// The media types an API group speaks: built-in kinds also speak protobuf and
/// strategic merge patch; custom resources don't (upstream publishes the same).
#[derive(Debug)]
pub(super) struct Flavor {
    /// Responses carrying one object.
    pub object_responses: &'static [&'static str],
    /// Responses of list requests, which may turn into watch streams.
    pub list_responses: &'static [&'static str],
    /// Request bodies of create and replace.
    pub write_bodies: &'static [&'static str],
    /// Request bodies of PATCH. kubectl computes a client-side strategic merge
    /// patch from the document only when `application/strategic-merge-patch+json` is listed.
    pub patch_bodies: &'static [&'static str],
}

pub(super) const BUILTIN: Flavor = Flavor {
    object_responses: &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
    list_responses: &[
        "application/json",
        "application/json;stream=watch",
        "application/vnd.kubernetes.protobuf",
        "application/vnd.kubernetes.protobuf;stream=watch",
        "application/yaml",
    ],
    // Like upstream: the body's format follows Content-Type (JSON, YAML or protobuf).
    write_bodies: &["*/*"],
    patch_bodies: &[
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ],
};

pub(super) const CUSTOM: Flavor = Flavor {
    object_responses: &["application/json", "application/yaml"],
    list_responses: &["application/json", "application/yaml"],
    write_bodies: &["application/json", "application/yaml"],
    patch_bodies: &["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"],
};

pub(super) const STATUS_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const DELETE_OPTIONS_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const PATCH_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const API_RESOURCE_LIST_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
}

impl Method {
    pub fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        }
    }
}

/// What an operation answers with.
#[derive(Debug, Clone)]
pub(super) enum Body {
    /// A component schema, in each of these media types.
    Schema(String, &'static [&'static str]),
    /// Unstructured text or a raw stream (logs, exec).
    Text(&'static [&'static str]),
}

impl Body {
    fn content(&self) -> Value {
        let (schema, media) = match self {
            Body::Schema(def, media) => (schema_ref(def), media),
            Body::Text(media) => (json!({"type": "string"}), media),
        };
        Value::Object(media.iter().map(|m| (m.to_string(), json!({"schema": schema.clone()}))).collect())
    }

    pub fn refs(&self) -> Option<&str> {
        match self {
            Body::Schema(def, _) => Some(def),
            Body::Text(_) => None,
        }
    }
}

pub(super) fn schema_ref(def: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{def}")})
}

#[derive(Debug, Clone)]
pub(super) struct Operation {
    pub method: Method,
    pub id: String,
    pub description: String,
    /// `x-kubernetes-action`; `None` for discovery.
    pub action: Option<&'static str>,
    pub gvk: Option<GroupVersionKind>,
    pub params: Vec<Value>,
    /// Request body: its schema, its media types, and whether it is required.
    pub request: Option<(String, &'static [&'static str], bool)>,
    /// (HTTP code, description, body).
    pub responses: Vec<(u16, &'static str, Option<Body>)>,
}

impl Operation {
    pub fn new(method: Method, id: String, description: String) -> Self {
        Operation {
            method,
            id,
            description,
            action: None,
            gvk: None,
            params: Vec::new(),
            request: None,
            responses: Vec::new(),
        }
    }

    pub fn action(mut self, action: &'static str, gvk: &GroupVersionKind) -> Self {
        self.action = Some(action);
        self.gvk = Some(gvk.clone());
        self
    }

    pub fn param(mut self, param: Value) -> Self {
        self.params.push(param);
        self
    }

    pub fn query(mut self, queries: &[Query]) -> Self {
        self.params.extend(queries.iter().map(|q| q.to_json()));
        self
    }

    pub fn request(mut self, def: &str, media: &'static [&'static str], required: bool) -> Self {
        self.request = Some((def.to_string(), media, required));
        self
    }

    pub fn respond(mut self, code: u16, body: Option<Body>) -> Self {
        self.responses.push((code, http_description(code), body));
        self
    }

    /// The operation object; path-level parameters are hoisted by the caller.
    pub fn to_json(&self, tag: &str) -> Value {
        let mut op = Map::new();
        op.insert("description".into(), json!(self.description));
        op.insert("operationId".into(), json!(self.id));
        if !self.params.is_empty() {
            op.insert("parameters".into(), Value::Array(self.params.clone()));
        }
        if let Some((def, media, required)) = &self.request {
            let content: Map<String, Value> =
                media.iter().map(|m| (m.to_string(), json!({"schema": schema_ref(def)}))).collect();
            let mut body = json!({"content": content});
            if *required {
                body["required"] = json!(true);
            }
            op.insert("requestBody".into(), body);
        }
        let mut responses = Map::new();
        for (code, description, body) in &self.responses {
            let mut response = json!({"description": description});
            if let Some(body) = body {
                response["content"] = body.content();
            }
            responses.insert(code.to_string(), response);
        }
        // Every operation may be refused for lack of credentials.
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        op.insert("responses".into(), Value::Object(responses));
        op.insert("tags".into(), json!([tag]));
        if let Some(action) = self.action {
            op.insert("x-kubernetes-action".into(), json!(action));
        }
        if let Some(gvk) = &self.gvk {
            op.insert(
                "x-kubernetes-group-version-kind".into(),
                json!({"group": gvk.group, "version": gvk.version, "kind": gvk.kind}),
            );
        }
        Value::Object(op)
    }

    /// Definition names this operation references.
    pub fn referenced_definitions(&self) -> impl Iterator<Item = &str> {
        let request = self.request.as_ref().map(|(def, _, _)| def.as_str());
        let responses = self.responses.iter().filter_map(|(_, _, body)| body.as_ref().and_then(Body::refs));
        request.into_iter().chain(responses)
    }
}

fn http_description(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        401 => "Unauthorized",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_json_has_upstream_shape() {
        let gvk = GroupVersionKind::new("apps", "v1", "Deployment");
        let op = Operation::new(Method::Patch, "patchAppsV1NamespacedDeployment".into(), "partially update".into())
            .action("patch", &gvk)
            .query(&[Query::FieldValidation])
            .request(PATCH_DEF, BUILTIN.patch_bodies, true)
            .respond(200, Some(Body::Schema("io.k8s.api.apps.v1.Deployment".into(), BUILTIN.object_responses)));
        let v = op.to_json("apps_v1");
        assert_eq!(
            v["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        assert_eq!(v["x-kubernetes-action"], "patch");
        assert_eq!(v["tags"], json!(["apps_v1"]));
        assert_eq!(v["requestBody"]["required"], true);
        assert_eq!(
            v["requestBody"]["content"]["application/strategic-merge-patch+json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        );
        assert_eq!(v["responses"]["200"]["description"], "OK");
        assert_eq!(
            v["responses"]["200"]["content"]["application/vnd.kubernetes.protobuf"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.Deployment"
        );
        assert_eq!(v["responses"]["401"], json!({"description": "Unauthorized"}));
        let refs: Vec<&str> = op.referenced_definitions().collect();
        assert_eq!(refs, vec![PATCH_DEF, "io.k8s.api.apps.v1.Deployment"]);
    }
}
