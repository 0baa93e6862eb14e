use serde_json::{Value, json};

use super::*;
use crate::patch::test_support::deployment;

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";
const T2: &str = "2025-01-01T00:02:00Z";

fn writer<'a>(name: &'a str, time: &'a str) -> FieldManager<'a> {
    FieldManager { name, api_version: "apps/v1", subresource: None, time }
}

fn web() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "1", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}
        },
        "status": {"replicas": 2}
    })
}

fn created() -> Value {
    let mut obj = web();
    update_managed_fields(None, &mut obj, &writer("kubectl-create", T0), deployment()).unwrap();
    obj
}

fn entries(obj: &Value) -> Vec<ManagedFieldsEntry> {
    decode(obj).unwrap()
}

fn entry<'a>(entries: &'a [ManagedFieldsEntry], manager: &str) -> &'a ManagedFieldsEntry {
    entries.iter().find(|e| e.manager == manager).unwrap_or_else(|| panic!("no entry for {manager}"))
}

fn path(names: &[&str]) -> Vec<PathElement> {
    names.iter().map(|n| PathElement::field(*n)).collect()
}

#[test]
fn create_owns_every_field_but_bookkeeping_and_status() {
    let obj = created();
    assert_eq!(
        obj["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                    }
                }
            }
        }])
    );
}

#[test]
fn update_by_another_manager_moves_ownership_of_changed_fields() {
    let old = created();
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(5);
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    update_managed_fields(Some(&old), &mut new, &writer("kubectl-edit", T1), deployment()).unwrap();
    let list = entries(&new);
    assert_eq!(list.len(), 2);
    let edit = entry(&list, "kubectl-edit");
    let image = {
        let mut p = path(&["spec", "template", "spec", "containers"]);
        p.push(PathElement::key([("name", &json!("nginx"))]));
        p.push(PathElement::field("image"));
        p
    };
    assert!(edit.fields.contains(&path(&["spec", "replicas"])));
    assert!(edit.fields.contains(&image));
    assert_eq!(edit.fields.paths().len(), 2);
    assert_eq!(edit.time.as_deref(), Some(T1));
    let create = entry(&list, "kubectl-create");
    assert!(!create.fields.contains(&path(&["spec", "replicas"])));
    assert!(!create.fields.contains(&image));
    assert!(create.fields.contains(&path(&["spec", "selector"])));
    assert_eq!(create.time.as_deref(), Some(T0), "other entries keep their time");
}

#[test]
fn removed_fields_leave_every_manager_and_empty_entries_drop() {
    let old = created();
    let mut step = old.clone();
    step["metadata"]["labels"]["tier"] = json!("fe");
    update_managed_fields(Some(&old), &mut step, &writer("labeler", T1), deployment()).unwrap();
    assert_eq!(entries(&step).len(), 2);

    let mut removed = step.clone();
    removed["metadata"]["labels"].as_object_mut().unwrap().remove("tier");
    update_managed_fields(Some(&step), &mut removed, &writer("kubectl-edit", T2), deployment()).unwrap();
    let list = entries(&removed);
    assert!(list.iter().all(|e| e.manager != "labeler"), "labeler owned nothing else: {list:?}");
    // A removal alone gives the writer nothing to own either.
    assert!(list.iter().all(|e| e.manager != "kubectl-edit"));
}

#[test]
fn noop_update_leaves_entries_alone() {
    let old = created();
    let mut new = old.clone();
    update_managed_fields(Some(&old), &mut new, &writer("someone", T1), deployment()).unwrap();
    assert_eq!(new, old);
}

#[test]
fn status_belongs_to_the_status_subresource() {
    let old = created();
    let mut main = old.clone();
    main["status"]["replicas"] = json!(3);
    update_managed_fields(Some(&old), &mut main, &writer("sneaky", T1), deployment()).unwrap();
    assert_eq!(entries(&main).len(), 1, "a status change through the main resource is not tracked");

    let mut status = old.clone();
    status["status"]["replicas"] = json!(3);
    status["status"]["readyReplicas"] = json!(3);
    status["spec"]["replicas"] = json!(9);
    let w = FieldManager { subresource: Some("status"), ..writer("deployment-controller", T1) };
    update_managed_fields(Some(&old), &mut status, &w, deployment()).unwrap();
    let list = entries(&status);
    let ctrl = entry(&list, "deployment-controller");
    assert_eq!(ctrl.subresource.as_deref(), Some("status"));
    assert_eq!(ctrl.fields.paths().len(), 2);
    assert!(ctrl.fields.contains(&path(&["status", "readyReplicas"])));
    assert!(entry(&list, "kubectl-create").fields.contains(&path(&["spec", "replicas"])));
    assert_eq!(status["metadata"]["managedFields"][1]["subresource"], "status");
}

#[test]
fn requests_may_reset_or_edit_managed_fields() {
    let old = created();
    let mut reset = old.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    reset["spec"]["replicas"] = json!(4);
    update_managed_fields(Some(&old), &mut reset, &writer("kubectl-edit", T1), deployment()).unwrap();
    let list = entries(&reset);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].manager, "kubectl-edit");

    let mut edited = old.clone();
    edited["metadata"]["managedFields"][0]["manager"] = json!("renamed");
    update_managed_fields(Some(&old), &mut edited, &writer("x", T1), deployment()).unwrap();
    assert_eq!(entries(&edited)[0].manager, "renamed");

    // Clients that drop managedFields do not erase them.
    let mut dropped = old.clone();
    remove_managed_fields(&mut dropped);
    dropped["spec"]["replicas"] = json!(7);
    update_managed_fields(Some(&old), &mut dropped, &writer("kubectl-edit", T1), deployment()).unwrap();
    assert_eq!(entries(&dropped).len(), 2);
}

#[test]
fn updaters_get_an_entry_per_api_version_and_entries_sort_like_upstream() {
    let old = created();
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(3);
    let w = FieldManager { api_version: "apps/v1beta2", ..writer("kubectl-create", T1) };
    update_managed_fields(Some(&old), &mut new, &w, deployment()).unwrap();
    let list = new["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["apiVersion"].as_str(), list[1]["apiVersion"].as_str()),
        (Some("apps/v1"), Some("apps/v1beta2"))
    );
}

#[test]
fn untrackable_objects_lose_their_managed_fields() {
    let old = created();
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"] = json!([{"image": "no-name"}]);
    let err = update_managed_fields(Some(&old), &mut new, &writer("x", T1), deployment()).unwrap_err();
    assert!(err.to_string().contains("omits key field \"name\""), "{err}");
    assert!(new["metadata"].get("managedFields").is_none());
}

#[test]
fn entries_round_trip_and_reject_garbage() {
    let obj = created();
    let list = entries(&obj);
    let mut again = json!({"metadata": {}});
    encode(&mut again, list.clone());
    assert_eq!(decode(&again).unwrap(), list);
    for bad in [
        json!({"metadata": {"managedFields": {}}}),
        json!({"metadata": {"managedFields": [{"operation": "Destroy"}]}}),
        json!({"metadata": {"managedFields": [{"operation": "Update", "fieldsType": "FieldsV2"}]}}),
        json!({"metadata": {"managedFields": [{"operation": "Update", "fieldsV1": {"q:x": {}}}]}}),
    ] {
        assert!(decode(&bad).is_err(), "{bad}");
    }
}

#[test]
fn a_removal_alone_does_not_touch_the_writers_time() {
    let old = created();
    let mut step = old.clone();
    step["metadata"]["labels"]["tier"] = json!("fe");
    step["spec"]["replicas"] = json!(3);
    update_managed_fields(Some(&old), &mut step, &writer("editor", T1), deployment()).unwrap();
    let mut removal = step.clone();
    removal["metadata"]["labels"].as_object_mut().unwrap().remove("tier");
    update_managed_fields(Some(&step), &mut removal, &writer("editor", T2), deployment()).unwrap();
    let list = entries(&removal);
    let editor = entry(&list, "editor");
    assert_eq!(editor.time.as_deref(), Some(T1));
    assert_eq!(editor.fields.paths(), vec![crate::patch::Path::fields(&["spec", "replicas"])]);
}
