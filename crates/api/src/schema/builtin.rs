//! Generates the built-in catalog from the k8s-openapi types (their `schemars`
//! impls carry upstream's field descriptions), then adds what upstream's
//! published documents have on top: list kinds, the group-version-kind tags,
//! and the list/map/patch extensions (see `extensions`).

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::{Catalog, REF_PREFIX, extensions};
use crate::resource::ResourceDef;

/// Builds the catalog for the given resources.
pub fn generate(resources: &[ResourceDef]) -> Catalog {
    let mut generator = SchemaSettings::openapi3().into_generator();
    for def in resources {
        if let Some(add) = def.add_schema {
            add(&mut generator);
        }
    }
    add_common_types(&mut generator);
    let mut defs: BTreeMap<String, Value> = generator.take_definitions(true).into_iter().collect();

    for def in resources {
        let Some(kind_def) = &def.schema_name else { continue };
        let gvk = json!({"group": def.group, "version": def.version, "kind": def.kind});
        if let Some(schema) = defs.get_mut(kind_def) {
            tag_gvk(schema, gvk.clone());
            // k8s-openapi marks `metadata` required on kinds; upstream's schemas don't
            // (the server fills what is missing), and kubectl explain shows the difference.
            drop_required(schema, "metadata");
        }
        if !def.stored {
            continue;
        }
        let list_def = list_definition_name(kind_def, &def.list_kind);
        let list_schema = defs.entry(list_def).or_insert_with(|| list_schema(kind_def, &def.list_kind));
        tag_gvk(list_schema, json!({"group": def.group, "version": def.version, "kind": def.list_kind}));
        // Upstream tags the shared option kinds with every group-version that uses them.
        for shared in
            ["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"]
        {
            let kind = shared.rsplit('.').next().unwrap_or_default();
            if let Some(schema) = defs.get_mut(shared) {
                tag_gvk(schema, json!({"group": def.group, "version": def.version, "kind": kind}));
            }
        }
    }
    tag_gvk_if_present(&mut defs, "io.k8s.api.autoscaling.v1.Scale", "autoscaling", "v1", "Scale");
    tag_gvk_if_present(&mut defs, "io.k8s.api.policy.v1.Eviction", "policy", "v1", "Eviction");
    tag_gvk_if_present(&mut defs, "io.k8s.api.core.v1.Binding", "", "v1", "Binding");
    tag_gvk_if_present(&mut defs, "io.k8s.apimachinery.pkg.apis.meta.v1.Status", "", "v1", "Status");
    tag_gvk_if_present(
        &mut defs,
        "io.k8s.api.authentication.v1.TokenRequest",
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
    );

    extensions::apply(&mut defs);
    Catalog::from_definitions(defs)
}

fn add_common_types(generator: &mut schemars::SchemaGenerator) {
    use k8s_openapi::api::{
        authentication::v1 as authn, autoscaling::v1 as as1, core::v1 as core, policy::v1 as policy,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::WatchEvent<serde_json::Value>>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<as1::Scale>();
    generator.subschema_for::<policy::Eviction>();
    generator.subschema_for::<core::Binding>();
    generator.subschema_for::<authn::TokenRequest>();
}

/// `io.k8s.api.core.v1.Pod` + `PodList` -> `io.k8s.api.core.v1.PodList`.
pub fn list_definition_name(kind_def: &str, list_kind: &str) -> String {
    match kind_def.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{list_kind}"),
        None => list_kind.to_string(),
    }
}

fn list_schema(kind_def: &str, list_kind: &str) -> Value {
    json!({
        "description": format!("{list_kind} is a list of {}.", kind_def.rsplit('.').next().unwrap_or(kind_def)),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            },
            "items": {
                "description": "List of objects.",
                "type": "array",
                "items": {"allOf": [{"$ref": format!("{REF_PREFIX}{kind_def}")}], "default": {}},
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            },
            "metadata": {
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")}],
                "default": {},
            },
        },
    })
}

fn drop_required(schema: &mut Value, field: &str) {
    let Some(map) = schema.as_object_mut() else { return };
    if let Some(Value::Array(req)) = map.get_mut("required") {
        req.retain(|f| f != field);
        if req.is_empty() {
            map.remove("required");
        }
    }
}

fn tag_gvk(schema: &mut Value, gvk: Value) {
    let Some(map) = schema.as_object_mut() else { return };
    let list = map.entry("x-kubernetes-group-version-kind").or_insert_with(|| Value::Array(Vec::new()));
    if let Some(items) = list.as_array_mut()
        && !items.contains(&gvk)
    {
        items.push(gvk);
    }
}

fn tag_gvk_if_present(defs: &mut BTreeMap<String, Value>, name: &str, group: &str, version: &str, kind: &str) {
    if let Some(schema) = defs.get_mut(name) {
        tag_gvk(schema, json!({"group": group, "version": version, "kind": kind}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ListType;

    fn catalog() -> Catalog {
        generate(&crate::kinds::builtin())
    }

    #[test]
    fn pod_containers_are_a_map_keyed_by_name() {
        let c = catalog();
        let pod = c.root("io.k8s.api.core.v1.Pod").unwrap();
        let containers = pod.property("spec").unwrap().property("containers").unwrap();
        assert_eq!(containers.list_type(), ListType::Map(vec!["name".into()]));
        assert_eq!(containers.patch_merge_key(), Some("name"));
        assert_eq!(containers.patch_strategies(), vec!["merge"]);
        let image = containers.items().unwrap().property("image").unwrap();
        assert_eq!(image.ty(), Some("string"));
        assert!(image.description().unwrap().contains("Container image name"));
    }

    #[test]
    fn list_kinds_and_gvks_are_present() {
        let c = catalog();
        assert_eq!(c.find_kind("apps", "v1", "Deployment"), Some("io.k8s.api.apps.v1.Deployment"));
        assert_eq!(c.find_kind("apps", "v1", "DeploymentList"), Some("io.k8s.api.apps.v1.DeploymentList"));
        assert!(c.find_kind("autoscaling", "v1", "Scale").is_some());
    }

    #[test]
    fn special_fields() {
        let c = catalog();
        let spec = c.root("io.k8s.api.core.v1.PodSpec").unwrap();
        assert_eq!(spec.property("volumes").unwrap().patch_strategies(), vec!["merge", "retainKeys"]);
        let svc_ports = c.root("io.k8s.api.core.v1.ServiceSpec").unwrap().property("ports").unwrap();
        assert_eq!(svc_ports.list_type(), ListType::Map(vec!["port".into(), "protocol".into()]));
        assert_eq!(svc_ports.patch_merge_key(), Some("port"));
        let finalizers =
            c.root("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap().property("finalizers").unwrap();
        assert_eq!(finalizers.list_type(), ListType::Set);
        let labels = c.root("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap().property("labels").unwrap();
        assert!(labels.is_map());
        let selector = c.root("io.k8s.api.apps.v1.DeploymentSpec").unwrap().property("selector").unwrap();
        assert!(selector.is_atomic_map());
        let port = c.root("io.k8s.api.core.v1.ServicePort").unwrap().property("targetPort").unwrap();
        assert!(port.is_int_or_string());
    }
}
