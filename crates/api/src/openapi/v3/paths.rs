//! The paths a served resource answers on, with their operations, in upstream's
//! layout: the collection (`list`, `create`, `deletecollection`), the all-namespaces
//! list, the item (`read`, `replace`, `patch`, `delete`) and the subresources.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::names::{GroupVersionNames, article, title};
use super::operations::{
    API_RESOURCE_LIST_DEF, BUILTIN, Body, DELETE_OPTIONS_DEF, Flavor, Method, Operation, PATCH_DEF, STATUS_DEF,
};
use super::params::{self, Query};
use crate::resource::GroupVersionKind;

/// A resource as the document describes it; built from a `ResourceDef` or a CRD.
#[derive(Debug, Clone)]
pub(super) struct ServedResource {
    pub gvk: GroupVersionKind,
    pub plural: String,
    pub namespaced: bool,
    /// Discovery verbs: get, list, watch, create, update, patch, delete, deletecollection.
    pub verbs: Vec<String>,
    /// Component schema of the kind and of its list kind.
    pub kind_def: String,
    pub list_def: String,
    pub subresources: Vec<ServedSubresource>,
    pub flavor: &'static Flavor,
}

#[derive(Debug, Clone)]
pub(super) struct ServedSubresource {
    pub name: String,
    /// The kind its operations are tagged with.
    pub gvk: GroupVersionKind,
    /// Component schema of its request and response bodies, when it has one.
    pub def: Option<String>,
    pub verbs: Vec<String>,
}

impl ServedResource {
    fn has(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
pub(super) fn group_version_prefix(group: &str, version: &str) -> String {
    if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") }
}

/// The operations of one group-version document, by path.
pub(super) struct Paths {
    names: GroupVersionNames,
    prefix: String,
    items: BTreeMap<String, Vec<Operation>>,
}

impl Paths {
    pub fn new(group: &str, version: &str) -> Self {
        Paths {
            names: GroupVersionNames::new(group, version),
            prefix: group_version_prefix(group, version),
            items: BTreeMap::new(),
        }
    }

    fn add(&mut self, path: String, op: Operation) {
        let ops = self.items.entry(path).or_default();
        // One operation per method and path; a second definition would be a bug upstream too.
        if !ops.iter().any(|o| o.method == op.method) {
            ops.push(op);
        }
    }

    /// `GET /apis/<group>/<version>/`: the group-version's APIResourceList (legacy discovery).
    pub fn add_discovery(&mut self) {
        let op = Operation::new(
            Method::Get,
            self.names.operation_id("get", "APIResources"),
            "get available resources".into(),
        )
        .respond(200, Some(Body::Schema(API_RESOURCE_LIST_DEF.into(), BUILTIN.object_responses)));
        self.add(format!("{}/", self.prefix), op);
    }

    pub fn add_resource(&mut self, r: &ServedResource) {
        let resource = ResourcePaths::new(&self.names, &self.prefix, r);
        let mut ops = resource.collection_operations();
        ops.extend(resource.item_operations());
        for sub in &r.subresources {
            ops.extend(resource.subresource_operations(sub));
        }
        for (path, op) in ops {
            self.add(path, op);
        }
    }

    /// Every definition the operations reference.
    pub fn referenced_definitions(&self) -> BTreeSet<String> {
        self.items.values().flatten().flat_map(|op| op.referenced_definitions().map(String::from)).collect()
    }

    /// The `paths` object.
    pub fn to_json(&self) -> Value {
        let items = self.items.iter().map(|(path, ops)| (path.clone(), path_item(ops, &self.names.tag)));
        Value::Object(items.collect())
    }
}

/// The operations of one resource, with the names and paths they share.
struct ResourcePaths<'a> {
    names: &'a GroupVersionNames,
    prefix: &'a str,
    r: &'a ServedResource,
    /// `Namespaced` in operation ids of namespaced resources.
    scope: &'static str,
    collection: String,
    item: String,
}

type PathOperation = (String, Operation);

impl<'a> ResourcePaths<'a> {
    fn new(names: &'a GroupVersionNames, prefix: &'a str, r: &'a ServedResource) -> Self {
        let collection = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        let item = format!("{collection}/{{name}}");
        ResourcePaths { names, prefix, r, scope: if r.namespaced { "Namespaced" } else { "" }, collection, item }
    }

    fn kind(&self) -> &'a str {
        &self.r.gvk.kind
    }

    /// An operation id for this resource: `verb` + group-version + scope + kind + `suffix`.
    fn id(&self, verb: &str, suffix: &str) -> String {
        self.names.operation_id(verb, &format!("{}{}{suffix}", self.scope, self.kind()))
    }

    /// Adds the namespace parameter (namespaced resources) and the name parameter (`name_of`).
    fn scoped(&self, op: Operation, name_of: Option<&str>) -> Operation {
        let op = if self.r.namespaced { op.param(params::namespace()) } else { op };
        match name_of {
            Some(kind) => op.param(params::name(kind)),
            None => op,
        }
    }

    fn body(&self, def: &str) -> Option<Body> {
        Some(Body::Schema(def.to_string(), self.r.flavor.object_responses))
    }

    fn collection_operations(&self) -> Vec<PathOperation> {
        let (r, kind) = (self.r, self.kind());
        let mut ops = Vec::new();
        if r.has("list") {
            let what = if r.has("watch") { "list or watch" } else { "list" };
            let list = |id: String| {
                Operation::new(Method::Get, id, format!("{what} objects of kind {kind}"))
                    .action("list", &r.gvk)
                    .query(&[Query::Pretty])
                    .query(params::LIST)
                    .respond(200, Some(Body::Schema(r.list_def.clone(), r.flavor.list_responses)))
            };
            ops.push((self.collection.clone(), self.scoped(list(self.id("list", "")), None)));
            if r.namespaced {
                let id = self.names.operation_id("list", &format!("{kind}ForAllNamespaces"));
                ops.push((format!("{}/{}", self.prefix, r.plural), list(id)));
            }
        }
        if r.has("create") {
            let op = Operation::new(Method::Post, self.id("create", ""), format!("create{}{kind}", article(kind)))
                .action("post", &r.gvk)
                .query(&[Query::Pretty])
                .query(params::WRITE)
                .request(&r.kind_def, r.flavor.write_bodies, true)
                .respond(200, self.body(&r.kind_def))
                .respond(201, self.body(&r.kind_def))
                .respond(202, self.body(&r.kind_def));
            ops.push((self.collection.clone(), self.scoped(op, None)));
        }
        if r.has("deletecollection") {
            let id = self.names.operation_id("delete", &format!("Collection{}{kind}", self.scope));
            let op = Operation::new(Method::Delete, id, format!("delete collection of {kind}"))
                .action("deletecollection", &r.gvk)
                .query(&[Query::Pretty])
                .query(params::DELETE_COLLECTION)
                .request(DELETE_OPTIONS_DEF, r.flavor.write_bodies, false)
                .respond(200, self.body(STATUS_DEF));
            ops.push((self.collection.clone(), self.scoped(op, None)));
        }
        ops
    }

    fn item_operations(&self) -> Vec<PathOperation> {
        let (r, kind) = (self.r, self.kind());
        let mut ops = Vec::new();
        if r.has("get") {
            let op = Operation::new(Method::Get, self.id("read", ""), format!("read the specified {kind}"))
                .action("get", &r.gvk)
                .query(&[Query::Pretty])
                .respond(200, self.body(&r.kind_def));
            ops.push(op);
        }
        if r.has("update") {
            let op = Operation::new(Method::Put, self.id("replace", ""), format!("replace the specified {kind}"))
                .action("put", &r.gvk)
                .query(&[Query::Pretty])
                .query(params::WRITE)
                .request(&r.kind_def, r.flavor.write_bodies, true)
                .respond(200, self.body(&r.kind_def))
                .respond(201, self.body(&r.kind_def));
            ops.push(op);
        }
        if r.has("patch") {
            let op =
                Operation::new(Method::Patch, self.id("patch", ""), format!("partially update the specified {kind}"))
                    .action("patch", &r.gvk)
                    .query(&[Query::Pretty])
                    .query(params::PATCH)
                    .request(PATCH_DEF, r.flavor.patch_bodies, true)
                    .respond(200, self.body(&r.kind_def))
                    .respond(201, self.body(&r.kind_def));
            ops.push(op);
        }
        if r.has("delete") {
            let op = Operation::new(Method::Delete, self.id("delete", ""), format!("delete{}{kind}", article(kind)))
                .action("delete", &r.gvk)
                .query(&[Query::Pretty])
                .query(params::DELETE)
                .request(DELETE_OPTIONS_DEF, r.flavor.write_bodies, false)
                .respond(200, self.body(STATUS_DEF))
                .respond(202, self.body(STATUS_DEF));
            ops.push(op);
        }
        ops.into_iter().map(|op| (self.item.clone(), self.scoped(op, Some(kind)))).collect()
    }

    fn subresource_operations(&self, sub: &ServedSubresource) -> Vec<PathOperation> {
        let kind = self.kind();
        let name = sub.name.as_str();
        let suffix = title(name);
        let has = |verb: &str| sub.verbs.iter().any(|v| v == verb);
        let mut ops = Vec::new();
        match name {
            "log" => {
                if has("get") {
                    let op = Operation::new(
                        Method::Get,
                        self.id("read", &suffix),
                        format!("read log of the specified {kind}"),
                    )
                    .action("get", &sub.gvk)
                    .query(&[Query::Pretty])
                    .query(params::LOG)
                    .respond(200, Some(Body::Text(LOG_MEDIA)));
                    ops.push(op);
                }
            }
            "exec" | "attach" | "portforward" => {
                let queries = match name {
                    "exec" => params::EXEC,
                    "attach" => params::ATTACH,
                    _ => params::PORTFORWARD,
                };
                for (verb, method, http) in [("get", Method::Get, "Get"), ("create", Method::Post, "Post")] {
                    if !has(verb) {
                        continue;
                    }
                    let id = self.names.operation_id("connect", &format!("{http}{}{kind}{suffix}", self.scope));
                    let description = format!("connect {} requests to {name} of {kind}", http.to_uppercase());
                    let op = Operation::new(method, id, description)
                        .action("connect", &sub.gvk)
                        .query(queries)
                        .respond(200, Some(Body::Text(&["*/*"])));
                    ops.push(op);
                }
            }
            // Subresources that read or write an object: status, scale, binding, eviction...
            _ => {
                let Some(def) = &sub.def else { return Vec::new() };
                let flavor = self.r.flavor;
                if has("get") {
                    let op = Operation::new(
                        Method::Get,
                        self.id("read", &suffix),
                        format!("read {name} of the specified {kind}"),
                    )
                    .action("get", &sub.gvk)
                    .query(&[Query::Pretty])
                    .respond(200, self.body(def));
                    ops.push(op);
                }
                if has("update") {
                    let description = format!("replace {name} of the specified {kind}");
                    let op = Operation::new(Method::Put, self.id("replace", &suffix), description)
                        .action("put", &sub.gvk)
                        .query(&[Query::Pretty])
                        .query(params::WRITE)
                        .request(def, flavor.write_bodies, true)
                        .respond(200, self.body(def))
                        .respond(201, self.body(def));
                    ops.push(op);
                }
                if has("patch") {
                    let description = format!("partially update {name} of the specified {kind}");
                    let op = Operation::new(Method::Patch, self.id("patch", &suffix), description)
                        .action("patch", &sub.gvk)
                        .query(&[Query::Pretty])
                        .query(params::PATCH)
                        .request(PATCH_DEF, flavor.patch_bodies, true)
                        .respond(200, self.body(def))
                        .respond(201, self.body(def));
                    ops.push(op);
                }
                if has("create") {
                    let description = format!("create {name} of{}{kind}", article(kind));
                    let op = Operation::new(Method::Post, self.id("create", &suffix), description)
                        .action("post", &sub.gvk)
                        .query(&[Query::Pretty])
                        .query(params::WRITE)
                        .request(def, flavor.write_bodies, true)
                        .respond(200, self.body(def))
                        .respond(201, self.body(def))
                        .respond(202, self.body(def));
                    ops.push(op);
                }
            }
        }
        let path = format!("{}/{name}", self.item);
        ops.into_iter().map(|op| (path.clone(), self.scoped(op, Some(&sub.gvk.kind)))).collect()
    }
}

/// What `pods/log` answers in: the log text whatever the Accept header.
const LOG_MEDIA: &[&str] =
    &["text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

fn param_key(p: &Value) -> (&str, &str) {
    (p["name"].as_str().unwrap_or_default(), p["in"].as_str().unwrap_or_default())
}

fn sort_params(params: &mut [Value]) {
    params.sort_by(|a, b| param_key(a).0.cmp(param_key(b).0));
}

/// A path item: its operations, with the parameters all of them share moved to
/// the path level as upstream's builder does. `fieldValidation` always stays on
/// the operation: kubectl looks for it only there (on PATCH) to decide that the
/// server validates fields itself.
fn path_item(ops: &[Operation], tag: &str) -> Value {
    let mut shared: Vec<Value> = match ops.first() {
        Some(first) => first
            .params
            .iter()
            .filter(|p| p["name"] != "fieldValidation")
            .filter(|p| ops.iter().all(|op| op.params.iter().any(|q| param_key(q) == param_key(p))))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    sort_params(&mut shared);
    let shared_keys: BTreeSet<(&str, &str)> = shared.iter().map(param_key).collect();

    let mut item = Map::new();
    let mut sorted: Vec<&Operation> = ops.iter().collect();
    sorted.sort_by_key(|op| op.method);
    for op in sorted {
        let mut op = op.clone();
        op.params.retain(|p| !shared_keys.contains(&param_key(p)));
        sort_params(&mut op.params);
        item.insert(op.method.key().into(), op.to_json(tag));
    }
    if !shared.is_empty() {
        item.insert("parameters".into(), Value::Array(shared));
    }
    json!(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> ServedResource {
        ServedResource {
            gvk: GroupVersionKind::new("apps", "v1", "Deployment"),
            plural: "deployments".into(),
            namespaced: true,
            verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
                .map(String::from)
                .to_vec(),
            kind_def: "io.k8s.api.apps.v1.Deployment".into(),
            list_def: "io.k8s.api.apps.v1.DeploymentList".into(),
            subresources: vec![ServedSubresource {
                name: "scale".into(),
                gvk: GroupVersionKind::new("autoscaling", "v1", "Scale"),
                def: Some("io.k8s.api.autoscaling.v1.Scale".into()),
                verbs: ["get", "patch", "update"].map(String::from).to_vec(),
            }],
            flavor: &BUILTIN,
        }
    }

    fn names(params: &Value) -> Vec<&str> {
        params.as_array().map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect()).unwrap_or_default()
    }

    #[test]
    fn collection_item_and_all_namespaces_paths() {
        let mut paths = Paths::new("apps", "v1");
        paths.add_resource(&deployments());
        let v = paths.to_json();
        let collection = &v["/apis/apps/v1/namespaces/{namespace}/deployments"];
        assert_eq!(collection["get"]["operationId"], "listAppsV1NamespacedDeployment");
        assert_eq!(collection["post"]["operationId"], "createAppsV1NamespacedDeployment");
        assert_eq!(collection["delete"]["operationId"], "deleteAppsV1CollectionNamespacedDeployment");
        assert_eq!(collection["delete"]["x-kubernetes-action"], "deletecollection");
        assert_eq!(names(&collection["parameters"]), vec!["namespace", "pretty"]);
        assert!(names(&collection["get"]["parameters"]).contains(&"labelSelector"));
        assert_eq!(collection["post"]["description"], "create a Deployment");

        let all = &v["/apis/apps/v1/deployments"];
        assert_eq!(all["get"]["operationId"], "listAppsV1DeploymentForAllNamespaces");
        assert!(all["get"].get("parameters").is_none(), "a lone operation's parameters move to the path");
        assert!(names(&all["parameters"]).contains(&"watch"));

        let item = &v["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        assert_eq!(names(&item["parameters"]), vec!["name", "namespace", "pretty"]);
        assert_eq!(item["patch"]["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(names(&item["patch"]["parameters"]), vec!["dryRun", "fieldManager", "fieldValidation", "force"]);
        assert_eq!(
            item["delete"]["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"
        );

        let scale = &v["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
        assert_eq!(scale["patch"]["operationId"], "patchAppsV1NamespacedDeploymentScale");
        assert_eq!(scale["patch"]["x-kubernetes-group-version-kind"]["kind"], "Scale");
        assert_eq!(
            scale["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
        );
    }

    #[test]
    fn field_validation_stays_on_a_lone_operation() {
        let mut r = deployments();
        r.verbs = vec!["patch".into()];
        r.subresources.clear();
        let mut paths = Paths::new("apps", "v1");
        paths.add_resource(&r);
        let v = paths.to_json();
        let item = &v["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        assert_eq!(names(&item["patch"]["parameters"]), vec!["fieldValidation"]);
        assert!(names(&item["parameters"]).contains(&"force"));
    }

    #[test]
    fn cluster_scoped_resources_have_no_namespace() {
        let mut r = deployments();
        r.namespaced = false;
        r.gvk = GroupVersionKind::new("", "v1", "Node");
        r.plural = "nodes".into();
        let mut paths = Paths::new("", "v1");
        paths.add_resource(&r);
        paths.add_discovery();
        let v = paths.to_json();
        assert_eq!(v["/api/v1/nodes"]["get"]["operationId"], "listCoreV1Node");
        assert_eq!(names(&v["/api/v1/nodes/{name}"]["parameters"]), vec!["name", "pretty"]);
        assert_eq!(v["/api/v1/"]["get"]["operationId"], "getCoreV1APIResources");
        assert_eq!(v["/api/v1/"]["get"]["tags"], json!(["core_v1"]));
    }
}
