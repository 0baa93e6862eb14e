use serde_json::{Value, json};

use super::*;
use crate::patch::fieldpath::PathElement;
use crate::patch::managed_fields::{decode, update_managed_fields};
use crate::patch::test_support::{catalog, deployment};

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";
const T2: &str = "2025-01-01T00:02:00Z";

fn writer<'a>(name: &'a str, time: &'a str) -> FieldManager<'a> {
    FieldManager { name, api_version: "apps/v1", subresource: None, time }
}

fn config(replicas: Option<i64>, containers: Value) -> Value {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}
    });
    if let Some(r) = replicas {
        spec["replicas"] = json!(r);
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}}, "spec": spec})
}

fn nginx(image: &str) -> Value {
    json!({"name": "nginx", "image": image, "ports": [{"containerPort": 80}]})
}

fn apply_as(live: Option<&Value>, applied: &Value, manager: &str, time: &str) -> Result<Value, ApplyError> {
    server_side_apply(live, applied, &writer(manager, time), false, deployment())
}

fn owners(obj: &Value) -> Vec<(String, Operation)> {
    decode(obj).unwrap().into_iter().map(|e| (e.manager, e.operation)).collect()
}

fn fields_of(obj: &Value, manager: &str) -> FieldSet {
    decode(obj).unwrap().into_iter().find(|e| e.manager == manager).map(|e| e.fields).unwrap_or_default()
}

fn path(names: &[&str]) -> Vec<PathElement> {
    names.iter().map(|n| PathElement::field(*n)).collect()
}

fn container_path(name: &str, field: &str) -> Vec<PathElement> {
    let mut p = path(&["spec", "template", "spec", "containers"]);
    p.push(PathElement::key([("name", &json!(name))]));
    p.push(PathElement::field(field));
    p
}

#[test]
fn create_via_apply_records_exactly_the_applied_fields() {
    let applied = config(Some(2), json!([nginx("nginx:1")]));
    let obj = apply_as(None, &applied, "kubectl", T0).unwrap();
    let mut want = applied.clone();
    want["metadata"]["managedFields"] = json!([{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}
                }
            }
        }
    }]);
    assert_eq!(obj, want);
}

#[test]
fn reapply_without_a_field_removes_it() {
    let mut first = config(
        Some(2),
        json!([{"name": "nginx", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
    );
    first["metadata"]["labels"]["tier"] = json!("fe");
    let live = apply_as(None, &first, "kubectl", T0).unwrap();

    let second = config(None, json!([{"name": "nginx", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}]));
    let out = apply_as(Some(&live), &second, "kubectl", T1).unwrap();
    assert!(out["spec"].get("replicas").is_none(), "replicas no longer applied: {}", out["spec"]);
    assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["env"], json!([{"name": "A", "value": "1"}]));
    let mine = fields_of(&out, "kubectl");
    assert!(!mine.contains(&path(&["spec", "replicas"])));
    assert_eq!(owners(&out), vec![("kubectl".to_string(), Operation::Apply)]);
}

#[test]
fn fields_nobody_owns_survive_a_reapply() {
    let live = apply_as(None, &config(Some(2), json!([nginx("nginx:1")])), "kubectl", T0).unwrap();
    // Defaulting and controllers add fields no manager owns.
    let mut defaulted = live.clone();
    defaulted["spec"]["revisionHistoryLimit"] = json!(10);
    defaulted["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    let out = apply_as(Some(&defaulted), &config(None, json!([nginx("nginx:1")])), "kubectl", T1).unwrap();
    assert_eq!(out["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
}

/// A deployment created by client-side `kubectl apply` (an Update by `kubectl-client-side-apply`).
fn created_by_update() -> Value {
    let mut obj = config(Some(3), json!([nginx("nginx:1")]));
    let w = writer("kubectl-client-side-apply", T0);
    update_managed_fields(None, &mut obj, &w, deployment()).unwrap();
    obj
}

#[test]
fn changing_an_updaters_field_conflicts() {
    let live = created_by_update();
    let err = apply_as(Some(&live), &config(Some(5), json!([nginx("nginx:1")])), "ssa-user", T1).unwrap_err();
    let ApplyError::Conflict(conflict) = err else { panic!("want a conflict, got {err:?}") };
    assert_eq!(
        conflict.message(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    let api: crate::ApiError = ApplyError::Conflict(conflict).into();
    assert_eq!((api.code, api.reason), (409, crate::Reason::Conflict));
    assert_eq!(api.causes.len(), 1);
    assert_eq!(api.causes[0].reason, "FieldManagerConflict");
    assert_eq!(api.causes[0].message, "conflict with \"kubectl-client-side-apply\" using apps/v1");
    assert_eq!(api.causes[0].field.as_deref(), Some(".spec.replicas"));
}

#[test]
fn several_conflicts_are_listed_by_manager() {
    let live = created_by_update();
    let err = apply_as(Some(&live), &config(Some(5), json!([nginx("nginx:2")])), "ssa-user", T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn force_takes_ownership() {
    let live = created_by_update();
    let applied = config(Some(5), json!([nginx("nginx:1")]));
    let out = server_side_apply(Some(&live), &applied, &writer("ssa-user", T1), true, deployment()).unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    assert!(fields_of(&out, "ssa-user").contains(&path(&["spec", "replicas"])));
    let csa = fields_of(&out, "kubectl-client-side-apply");
    assert!(!csa.contains(&path(&["spec", "replicas"])));
    assert!(csa.contains(&container_path("nginx", "image")), "unchanged fields stay shared");
}

#[test]
fn applying_the_current_value_shares_the_field() {
    let live = created_by_update();
    let out = apply_as(Some(&live), &config(Some(3), json!([nginx("nginx:1")])), "ssa-user", T1).unwrap();
    assert!(fields_of(&out, "ssa-user").contains(&path(&["spec", "replicas"])));
    assert!(fields_of(&out, "kubectl-client-side-apply").contains(&path(&["spec", "replicas"])));
}

#[test]
fn two_appliers_share_a_field() {
    let a = apply_as(None, &config(Some(3), json!([nginx("nginx:1")])), "a", T0).unwrap();
    let b = apply_as(Some(&a), &config(Some(3), json!([nginx("nginx:1")])), "b", T1).unwrap();
    assert!(fields_of(&b, "a").contains(&path(&["spec", "replicas"])));
    assert!(fields_of(&b, "b").contains(&path(&["spec", "replicas"])));

    // `a` stops applying replicas: `b` still owns it, so it stays.
    let a2 = apply_as(Some(&b), &config(None, json!([nginx("nginx:1")])), "a", T2).unwrap();
    assert_eq!(a2["spec"]["replicas"], 3);

    // While both own it, changing it is a conflict with the other applier.
    let err = apply_as(Some(&b), &config(Some(4), json!([nginx("nginx:1")])), "b", T2).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas");
    // Once `a` let go, `b` may change it.
    let b2 = apply_as(Some(&a2), &config(Some(4), json!([nginx("nginx:1")])), "b", T2).unwrap();
    assert_eq!(b2["spec"]["replicas"], 4);
}

#[test]
fn keyed_list_items_merge_across_appliers() {
    let a = apply_as(None, &config(None, json!([nginx("nginx:1")])), "a", T0).unwrap();
    let sidecar = json!({"name": "sidecar", "image": "busybox"});
    let b = apply_as(Some(&a), &config(None, json!([sidecar])), "b", T1).unwrap();
    let names: Vec<&str> = b["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx", "sidecar"]);
    assert!(fields_of(&b, "b").contains(&container_path("sidecar", "image")));
    assert!(!fields_of(&b, "b").contains(&container_path("nginx", "image")));

    // `a` re-applies: the sidecar is `b`'s and stays.
    let a2 = apply_as(Some(&b), &config(None, json!([nginx("nginx:2")])), "a", T2).unwrap();
    assert_eq!(a2["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 2);
    assert_eq!(a2["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2");

    // `b` drops its container: it goes.
    let b2 = apply_as(Some(&a2), &config(None, json!([])), "b", T2).unwrap();
    let containers = b2["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["name"], "nginx");
}

#[test]
fn first_apply_to_an_untracked_object_conflicts_with_before_first_apply() {
    let mut live = config(Some(3), json!([nginx("nginx:1")]));
    live["metadata"]["uid"] = json!("u1");
    let err = apply_as(Some(&live), &config(Some(4), json!([nginx("nginx:1")])), "ssa-user", T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    let out = apply_as(Some(&live), &config(Some(3), json!([nginx("nginx:1")])), "ssa-user", T1).unwrap();
    assert_eq!(
        owners(&out),
        vec![("ssa-user".into(), Operation::Apply), ("before-first-apply".into(), Operation::Update)]
    );
}

#[test]
fn kubectl_may_take_over_from_client_side_apply() {
    let mut live = created_by_update();
    let last = config(Some(3), json!([nginx("nginx:1")]));
    live["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: last.to_string()});
    let applied = config(Some(5), json!([nginx("nginx:1")]));
    assert!(matches!(apply_as(Some(&live), &applied, "ssa-user", T1), Err(ApplyError::Conflict(_))));

    let out = apply_as(Some(&live), &applied, "kubectl", T1).unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    assert!(!fields_of(&out, "kubectl-client-side-apply").contains(&path(&["spec", "replicas"])));
    // The annotation follows the applied configuration.
    let annotation: Value =
        serde_json::from_str(out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].as_str().unwrap()).unwrap();
    assert_eq!(annotation, applied);

    // A field that drifted from last-applied is a real conflict.
    let mut drifted = live.clone();
    drifted["spec"]["replicas"] = json!(4);
    assert!(matches!(apply_as(Some(&drifted), &applied, "kubectl", T1), Err(ApplyError::Conflict(_))));
}

#[test]
fn bad_configurations() {
    let mut with_managed = config(None, json!([]));
    with_managed["metadata"]["managedFields"] = json!([]);
    let no_name = config(None, json!([{"image": "x"}]));
    let twice = config(None, json!([nginx("a"), nginx("b")]));
    let cases = [
        (with_managed, "metadata.managedFields must be nil"),
        (no_name, "omits key field \"name\""),
        (twice, "duplicate entries for key [name=\"nginx\"]"),
        (json!([1]), "must be a JSON or YAML object"),
    ];
    for (applied, want) in cases {
        let err = apply_as(None, &applied, "x", T0).unwrap_err();
        assert!(matches!(err, ApplyError::BadRequest(_)), "{applied}: {err:?}");
        assert!(err.to_string().contains(want), "got {err}, want {want}");
    }
}

#[test]
fn nulls_in_the_configuration_ask_for_nothing() {
    let live = created_by_update();
    let mut applied = config(None, json!([nginx("nginx:1")]));
    applied["spec"]["replicas"] = Value::Null;
    let out = apply_as(Some(&live), &applied, "ssa-user", T1).unwrap();
    assert_eq!(out["spec"]["replicas"], 3);
    assert!(!fields_of(&out, "ssa-user").contains(&path(&["spec", "replicas"])));
}

#[test]
fn custom_resources_with_free_form_parts() {
    let schema_json = json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer"},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "members": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["id"],
                        "items": {"type": "object", "properties": {"id": {"type": "string"}, "role": {"type": "string"}}}
                    }
                }
            }
        }
    });
    let catalog = catalog();
    let schema = catalog.node(&schema_json);
    let cr = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    let apply = |live: Option<&Value>, applied: &Value, manager: &str| {
        let w = FieldManager { name: manager, api_version: "example.com/v1", subresource: None, time: T0 };
        server_side_apply(live, applied, &w, false, schema)
    };

    let first = cr(
        json!({"size": 1, "config": {"a": 1, "b": {"c": 2}, "list": [1, 2]}, "members": [{"id": "x", "role": "lead"}]}),
    );
    let live = apply(None, &first, "op").unwrap();
    let fields = &live["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(
        fields["f:spec"]["f:config"],
        json!({"f:a": {}, "f:b": {"f:c": {}}, "f:list": {}}),
        "free-form objects are granular, lists atomic"
    );
    assert_eq!(fields["f:spec"]["f:members"], json!({"k:{\"id\":\"x\"}": {".": {}, "f:id": {}, "f:role": {}}}));

    // Another manager takes a free-form field; the first stops applying `b` and the other's field stays.
    let other = apply(Some(&live), &cr(json!({"config": {"a": 1, "extra": true}, "members": [{"id": "y"}]})), "helper")
        .unwrap();
    let second = cr(json!({"size": 1, "config": {"a": 1, "list": [3]}, "members": [{"id": "x", "role": "lead"}]}));
    let out = apply(Some(&other), &second, "op").unwrap();
    assert_eq!(out["spec"]["config"], json!({"a": 1, "extra": true, "list": [3]}));
    assert_eq!(out["spec"]["members"], json!([{"id": "x", "role": "lead"}, {"id": "y"}]));
    let err = apply(Some(&out), &cr(json!({"config": {"a": 2}})), "helper").unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"op\": .spec.config.a");
}

#[test]
fn a_noop_apply_changes_nothing() {
    let live = apply_as(None, &config(Some(2), json!([nginx("nginx:1")])), "kubectl", T0).unwrap();
    let again = apply_as(Some(&live), &config(Some(2), json!([nginx("nginx:1")])), "kubectl", T1).unwrap();
    assert_eq!(again, live);
}

#[test]
fn an_update_after_apply_takes_the_field_and_the_next_apply_conflicts() {
    let live = apply_as(None, &config(Some(2), json!([nginx("nginx:1")])), "kubectl", T0).unwrap();
    // `kubectl scale` (or an autoscaler) changes replicas through an update.
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(6);
    let scaler = FieldManager { subresource: Some("scale"), ..writer("kube-controller-manager", T1) };
    update_managed_fields(Some(&live), &mut scaled, &scaler, deployment()).unwrap();
    assert!(!fields_of(&scaled, "kubectl").contains(&path(&["spec", "replicas"])));

    let err = apply_as(Some(&scaled), &config(Some(2), json!([nginx("nginx:1")])), "kubectl", T2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kube-controller-manager\" with subresource \"scale\" using apps/v1: .spec.replicas"
    );
    // Leaving replicas out of the configuration is how appliers hand it over.
    let out = apply_as(Some(&scaled), &config(None, json!([nginx("nginx:1")])), "kubectl", T2).unwrap();
    assert_eq!(out["spec"]["replicas"], 6);
}

#[test]
fn set_lists_merge_as_unions_and_prune_per_value() {
    let with_finalizers = |values: Value| {
        let mut c = config(None, json!([nginx("nginx:1")]));
        c["metadata"]["finalizers"] = values;
        c
    };
    let a = apply_as(None, &with_finalizers(json!(["a.example/x"])), "a", T0).unwrap();
    let b = apply_as(Some(&a), &with_finalizers(json!(["b.example/y"])), "b", T1).unwrap();
    assert_eq!(b["metadata"]["finalizers"], json!(["a.example/x", "b.example/y"]));
    let a2 = apply_as(Some(&b), &with_finalizers(json!([])), "a", T2).unwrap();
    assert_eq!(a2["metadata"]["finalizers"], json!(["b.example/y"]));
}

#[test]
fn a_struct_no_longer_applied_goes_as_a_whole() {
    let mut first = config(None, json!([nginx("nginx:1")]));
    first["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 2}});
    let live = apply_as(None, &first, "kubectl", T0).unwrap();
    let mut defaulted = live.clone();
    defaulted["spec"]["strategy"]["type"] = json!("RollingUpdate");
    defaulted["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = json!("25%");
    let out = apply_as(Some(&defaulted), &config(None, json!([nginx("nginx:1")])), "kubectl", T1).unwrap();
    assert!(out["spec"].get("strategy").is_none(), "{}", out["spec"]);
}

#[test]
fn status_subresource_apply_owns_only_status() {
    let live = apply_as(None, &config(Some(2), json!([nginx("nginx:1")])), "kubectl", T0).unwrap();
    let mut applied = config(None, json!([nginx("nginx:1")]));
    applied["status"] = json!({"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]});
    let w = FieldManager { subresource: Some("status"), ..writer("controller", T1) };
    let out = server_side_apply(Some(&live), &applied, &w, false, deployment()).unwrap();
    let mine = fields_of(&out, "controller");
    assert!(mine.contains(&path(&["status", "replicas"])));
    assert!(mine.paths().iter().all(|p| p.0[0] == PathElement::field("status")), "{mine:?}");
    assert_eq!(out["metadata"]["managedFields"][1]["subresource"], "status");
}

#[test]
fn list_keys_with_upstream_defaults() {
    // Ports without protocol, pull secrets without name: keyed by upstream's defaults.
    let mut applied = config(None, json!([{"name": "nginx", "image": "x", "ports": [{"containerPort": 80}]}]));
    applied["spec"]["template"]["spec"]["imagePullSecrets"] = json!([{}, {"name": "regcred"}]);
    let live = apply_as(None, &applied, "kubectl", T0).unwrap();
    let mut defaulted = live.clone();
    defaulted["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
    let out = apply_as(Some(&defaulted), &applied, "kubectl", T1).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    let secrets =
        &out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:imagePullSecrets"];
    // Pull secrets are atomic items: owned whole.
    assert_eq!(secrets, &json!({"k:{\"name\":\"\"}": {}, "k:{\"name\":\"regcred\"}": {}}));
}
