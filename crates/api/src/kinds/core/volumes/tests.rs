use super::*;

fn ctx() -> Context {
    Context { now: "2024-01-01T01:00:00Z".parse().unwrap() }
}

fn messages(errs: Vec<FieldError>) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn pv(spec: Value) -> Value {
    let mut v = json!({"metadata": {"name": "pv1", "creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": spec});
    PersistentVolumeStrategy.normalize(&mut v).unwrap();
    PersistentVolumeStrategy.default(&mut v);
    v
}

fn pvc(spec: Value) -> Value {
    let mut v = json!({"metadata": {"name": "data", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": spec});
    PersistentVolumeClaimStrategy.normalize(&mut v).unwrap();
    PersistentVolumeClaimStrategy.default(&mut v);
    v
}

#[test]
fn pv_defaults_and_row() {
    let mut v = pv(json!({"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
        "hostPath": {"path": "/data"}, "storageClassName": "local", "claimRef": {"namespace": "default", "name": "data"}}));
    assert_eq!(v["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(v["spec"]["volumeMode"], "Filesystem");
    assert_eq!(v["status"]["phase"], "Pending");
    PersistentVolumeStrategy.prepare_for_create(&mut v);
    assert_eq!(v["status"]["phase"], "Pending");
    assert!(v["status"]["lastPhaseTransitionTime"].is_string());
    assert!(PersistentVolumeStrategy.validate_create(&v).is_empty());
    v["status"]["phase"] = json!("Bound");
    assert_eq!(
        PersistentVolumeStrategy.row(&v, &ctx()),
        vec![
            json!("10Gi"),
            json!("RWO,ROX"),
            json!("Retain"),
            json!("Bound"),
            json!("default/data"),
            json!("local"),
            json!("<unset>"),
            json!(""),
            json!("60m"),
            json!("Filesystem"),
        ]
    );
}

#[test]
fn pv_validation() {
    let v = pv(json!({"accessModes": ["ReadWriteSometimes"], "persistentVolumeReclaimPolicy": "Keep"}));
    assert_eq!(
        messages(PersistentVolumeStrategy.validate_create(&v)),
        vec![
            "spec.accessModes: Unsupported value: \"ReadWriteSometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
            "spec.capacity: Required value",
            "spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Recycle\", \"Retain\"",
            "spec: Required value: must specify a volume type",
        ]
    );
    let old = pv(json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/a"}}));
    let new = pv(json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/b"}}));
    assert_eq!(
        messages(PersistentVolumeStrategy.validate_update(&new, &old)),
        vec!["spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"]
    );
}

#[test]
fn pvc_defaults_validation_and_row() {
    let v = pvc(json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1024Mi"}}}));
    assert_eq!(v["spec"]["volumeMode"], "Filesystem");
    assert_eq!(v["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(v["status"]["phase"], "Pending");
    assert!(PersistentVolumeClaimStrategy.validate_create(&v).is_empty());
    assert_eq!(
        PersistentVolumeClaimStrategy.row(&v, &ctx()),
        vec![
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!(""),
            json!("<unset>"),
            json!("60m"),
            json!("Filesystem")
        ]
    );
    let mut bound = v.clone();
    bound["spec"]["volumeName"] = json!("pv1");
    bound["status"] = json!({"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]});
    assert_eq!(
        PersistentVolumeClaimStrategy.row(&bound, &ctx())[..4],
        [json!("Bound"), json!("pv1"), json!("1Gi"), json!("RWO")]
    );

    let bad = pvc(json!({}));
    assert_eq!(
        messages(PersistentVolumeClaimStrategy.validate_create(&bad)),
        vec![
            "spec.accessModes: Required value: at least 1 access mode is required",
            "spec.resources[storage]: Required value"
        ]
    );
}

#[test]
fn pvc_updates() {
    let old = pvc(
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeName": "pv1"}),
    );
    let mut grow = old.clone();
    grow["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
    assert!(PersistentVolumeClaimStrategy.validate_update(&grow, &old).is_empty());
    let mut shrink = old.clone();
    shrink["spec"]["resources"]["requests"]["storage"] = json!("500Mi");
    assert_eq!(
        messages(PersistentVolumeClaimStrategy.validate_update(&shrink, &old)),
        vec!["spec.resources.requests.storage: Forbidden: field can not be less than previous value"]
    );
    let mut modes = old.clone();
    modes["spec"]["accessModes"] = json!(["ReadWriteMany"]);
    assert_eq!(
        messages(PersistentVolumeClaimStrategy.validate_update(&modes, &old)),
        vec![
            "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
        ]
    );
    let unbound = pvc(json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}));
    let mut binding = unbound.clone();
    binding["spec"]["volumeName"] = json!("pv1");
    assert!(PersistentVolumeClaimStrategy.validate_update(&binding, &unbound).is_empty());
}
