use serde_json::{Value, json};

use super::apply;
use crate::patch::PatchError;
use crate::patch::test_support::{deployment, pod};
use crate::schema::SchemaNode;

fn pod_with(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

#[test]
fn kubectl_apply_body_changes_one_probe_field() {
    let live = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "liveness-http", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}"}},
        "spec": {"containers": [{
            "name": "liveness", "image": "registry.k8s.io/e2e-test-images/agnhost:2.40", "args": ["liveness"],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 3, "periodSeconds": 3}
        }]}
    });
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"}},
        "spec": {"$setElementOrder/containers": [{"name": "liveness"}], "containers": [{"livenessProbe": {"periodSeconds": 5}, "name": "liveness"}]}
    });
    let out = apply(&live, &patch, pod()).unwrap();
    let mut want = live.clone();
    want["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json!("{\"new\":true}");
    want["spec"]["containers"][0]["livenessProbe"]["periodSeconds"] = json!(5);
    assert_eq!(out, want);
}

/// (what, schema, document, patch, expected result)
type Case = (&'static str, fn() -> SchemaNode<'static>, Value, Value, Value);

#[test]
fn merges() {
    let cases: Vec<Case> = vec![
        (
            "env merges by name, new items first like upstream",
            pod,
            pod_with(json!([{"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}])),
            json!({"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}),
            pod_with(
                json!([{"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]),
            ),
        ),
        (
            "a new container is added to the existing ones",
            pod,
            pod_with(json!([{"name": "a", "image": "x"}])),
            json!({"spec": {"containers": [{"name": "b", "image": "y"}]}}),
            pod_with(json!([{"name": "b", "image": "y"}, {"name": "a", "image": "x"}])),
        ),
        (
            "$patch: delete removes a list item",
            pod,
            pod_with(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])),
            json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
            pod_with(json!([{"name": "b", "image": "y"}])),
        ),
        (
            "$patch: replace as a list element replaces the list",
            pod,
            pod_with(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])),
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "z"}]}}),
            pod_with(json!([{"name": "c", "image": "z"}])),
        ),
        (
            "$setElementOrder orders the merged list",
            pod,
            pod_with(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "x2"}]}}),
            pod_with(json!([{"name": "b", "image": "y"}, {"name": "a", "image": "x2"}])),
        ),
        (
            "ports merge by containerPort",
            pod,
            pod_with(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81}]}])),
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 443}]}]}}),
            pod_with(
                json!([{"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 443}, {"containerPort": 81}]}]),
            ),
        ),
        (
            "lists without a merge strategy are replaced",
            pod,
            pod_with(json!([{"name": "a", "args": ["one", "two"]}])),
            json!({"spec": {"containers": [{"name": "a", "args": ["three"]}]}}),
            pod_with(json!([{"name": "a", "args": ["three"]}])),
        ),
        (
            "null deletes a label",
            pod,
            json!({"metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}}}),
            json!({"metadata": {"labels": {"tier": null, "env": "prod"}}}),
            json!({"metadata": {"name": "p", "labels": {"app": "web", "env": "prod"}}}),
        ),
        (
            "$patch: replace on a map",
            pod,
            json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
            json!({"metadata": {"name": "p", "labels": {"c": "3"}}}),
        ),
        (
            "$patch: delete on a map field removes it",
            pod,
            pod_with(json!([{"name": "a", "livenessProbe": {"periodSeconds": 3}}])),
            json!({"spec": {"containers": [{"name": "a", "livenessProbe": {"$patch": "delete"}}]}}),
            pod_with(json!([{"name": "a"}])),
        ),
        (
            "$retainKeys on a volume switches its source",
            pod,
            json!({"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [{"$retainKeys": ["name", "secret"], "name": "v", "secret": {"secretName": "s"}}]}}),
            json!({"spec": {"volumes": [{"name": "v", "secret": {"secretName": "s"}}, {"name": "w", "emptyDir": {}}]}}),
        ),
        (
            "$retainKeys on the deployment strategy: Recreate drops rollingUpdate",
            deployment,
            json!({"spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
            json!({"spec": {"replicas": 2, "strategy": {"type": "Recreate"}}}),
        ),
        (
            "$deleteFromPrimitiveList removes finalizers",
            pod,
            json!({"metadata": {"name": "p", "finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["a", "c"], "$deleteFromPrimitiveList/finalizers": ["b"]}}),
            json!({"metadata": {"name": "p", "finalizers": ["a", "c"]}}),
        ),
        (
            "finalizers merge as a set",
            pod,
            json!({"metadata": {"name": "p", "finalizers": ["x", "a"]}}),
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"name": "p", "finalizers": ["x", "a", "b"]}}),
        ),
        (
            "kubectl set image",
            deployment,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "side", "image": "busybox"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:2", "name": "web"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}, {"name": "side", "image": "busybox"}]}}}}),
        ),
        (
            "kubectl rollout restart",
            deployment,
            json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}}}}}),
            json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}),
            json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}),
        ),
        (
            "directives inside new content are carried out, not stored",
            pod,
            json!({"spec": {}}),
            json!({"spec": {"$setElementOrder/volumes": [{"name": "v"}], "volumes": [{"$retainKeys": ["emptyDir", "name"], "name": "v", "emptyDir": {}, "x": null}]}}),
            json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
        ),
        (
            "kubectl's 3-way patch: switch strategy and drop a container",
            deployment,
            json!({"spec": {
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                "template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
            }}),
            json!({"spec": {
                "strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"},
                "template": {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"$patch": "delete", "name": "b"}]}}
            }}),
            json!({"spec": {"strategy": {"type": "Recreate"}, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}),
        ),
        (
            "$setElementOrder on a list of scalars",
            pod,
            json!({"metadata": {"name": "p", "finalizers": ["a"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["b", "a"], "finalizers": ["b"]}}),
            json!({"metadata": {"name": "p", "finalizers": ["b", "a"]}}),
        ),
        (
            "fields outside the schema merge like a merge patch",
            deployment,
            json!({"spec": {"extra": {"a": 1, "list": [1, 2]}}}),
            json!({"spec": {"extra": {"b": 2, "list": [3]}}}),
            json!({"spec": {"extra": {"a": 1, "b": 2, "list": [3]}}}),
        ),
        (
            "a type change replaces the value",
            deployment,
            json!({"spec": {"replicas": 1}}),
            json!({"spec": {"replicas": {"odd": true}}}),
            json!({"spec": {"replicas": {"odd": true}}}),
        ),
    ];
    for (what, schema, doc, patch, want) in cases {
        let got = apply(&doc, &patch, schema()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn bad_patches() {
    let doc = pod_with(json!([{"name": "a", "image": "x"}]));
    let cases = [
        (json!({"spec": {"containers": [{"image": "y"}]}}), "does not contain declared merge key: name"),
        (json!({"spec": {"containers": [{"$patch": "delete"}]}}), "does not contain declared merge key: name"),
        (json!({"spec": {"containers": [{"name": "a", "$patch": "explode"}]}}), "unknown patch type: \"explode\""),
        (json!({"metadata": {"labels": {"$patch": "explode"}}}), "unknown patch type"),
        (json!({"spec": {"volumes": [{"$retainKeys": "name", "name": "v"}]}}), "invalid patch format of retainKeys"),
        (
            json!({"spec": {"volumes": [{"$retainKeys": ["name"], "name": "v", "secret": {}}]}}),
            "\"secret\" is not in the $retainKeys list",
        ),
        (json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}), "invalid patch format of primitive list"),
        (
            json!({"spec": {"$setElementOrder/containers": {"name": "a"}}}),
            "invalid patch format of setElementOrder list",
        ),
        (
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b", "image": "y"}]}}),
            "doesn't match the $setElementOrder list",
        ),
        (json!({"metadata": {"finalizers": [{"a": 1}, "b"]}}), "list element types are not identical"),
        (json!({"metadata": {"finalizers": [["a"]]}}), "lists of lists are not supported"),
        (json!([1]), "must be a JSON object"),
    ];
    for (patch, want) in cases {
        let err = apply(&doc, &patch, pod()).unwrap_err();
        assert!(matches!(err, PatchError::BadRequest(_)), "{patch}: {err:?}");
        assert!(err.to_string().contains(want), "{patch}: got {err}, want {want}");
    }
}

#[test]
fn patching_nothing_builds_the_object() {
    // Nulls in new content are dropped; the emptied map stays, as upstream.
    let out = apply(&Value::Null, &json!({"metadata": {"name": "x", "labels": {"a": null}}}), pod()).unwrap();
    assert_eq!(out, json!({"metadata": {"name": "x", "labels": {}}}));
}
