//! The roles of the individual controllers (`system:controller:<name>`), as upstream defines
//! them for a controller manager that runs each controller under its own service account.
//!
//! k3rs runs its controllers in process under one identity, `system:kube-controller-manager`;
//! each controller's binding names that user besides the controller's service account, so the
//! controllers hold exactly the union of these roles (see `docs/security.md`).

use serde_json::Value;

use super::rule::*;

/// (controller name, rules).
pub fn all() -> Vec<(&'static str, Vec<Value>)> {
    let update = &["update"][..];
    vec![
        (
            "cronjob-controller",
            vec![
                rule(&["get", "list", "watch", "update"], &["batch"], &["cronjobs"]),
                rule(&["get", "list", "watch", "create", "update", "delete", "patch"], &["batch"], &["jobs"]),
                rule(update, &["batch"], &["cronjobs/status", "cronjobs/finalizers"]),
                rule(&["list", "delete"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "daemon-set-controller",
            vec![
                rule(READ, &["apps"], &["daemonsets"]),
                rule(update, &["apps"], &["daemonsets/status", "daemonsets/finalizers"]),
                rule(READ, &[""], &["nodes"]),
                rule(&["list", "watch", "create", "delete", "patch"], &[""], &["pods"]),
                rule(&["create"], &[""], &["pods/binding"]),
                rule(
                    &["get", "list", "watch", "create", "delete", "update", "patch"],
                    &["apps"],
                    &["controllerrevisions"],
                ),
                events(),
            ],
        ),
        (
            "deployment-controller",
            vec![
                rule(&["get", "list", "watch", "update"], &["apps"], &["deployments"]),
                rule(update, &["apps"], &["deployments/status", "deployments/finalizers"]),
                rule(&["get", "list", "watch", "create", "update", "patch", "delete"], &["apps"], &["replicasets"]),
                rule(&["get", "list", "watch", "update"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "disruption-controller",
            vec![
                rule(READ, &["apps"], &["deployments", "replicasets", "statefulsets"]),
                rule(READ, &[""], &["replicationcontrollers", "pods"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(update, &["policy"], &["poddisruptionbudgets/status"]),
                rule(&["get"], &["*"], &["*/scale"]),
                events(),
            ],
        ),
        (
            "endpoint-controller",
            vec![
                rule(READ, &[""], &["services", "pods"]),
                rule(&["get", "list", "create", "update", "delete"], &[""], &["endpoints"]),
                rule(&["create"], &[""], &["endpoints/restricted"]),
                events(),
            ],
        ),
        (
            "endpointslice-controller",
            vec![
                rule(READ, &[""], &["services", "pods", "nodes"]),
                rule(update, &[""], &["services/finalizers"]),
                rule(
                    &["create", "update", "delete", "get", "list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
                events(),
            ],
        ),
        (
            "endpointslicemirroring-controller",
            vec![
                rule(READ, &[""], &["services", "endpoints"]),
                rule(update, &[""], &["endpoints/finalizers"]),
                rule(
                    &["create", "update", "delete", "get", "list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
                events(),
            ],
        ),
        (
            "ephemeral-volume-controller",
            vec![
                rule(READ, &[""], &["pods"]),
                rule(update, &[""], &["pods/finalizers"]),
                rule(&["get", "list", "watch", "create"], &[""], &["persistentvolumeclaims"]),
                events(),
            ],
        ),
        (
            "generic-garbage-collector",
            vec![rule(&["get", "list", "watch", "patch", "update", "delete"], &["*"], &["*"]), events()],
        ),
        (
            "horizontal-pod-autoscaler",
            vec![
                rule(READ, &["autoscaling"], &["horizontalpodautoscalers"]),
                rule(update, &["autoscaling"], &["horizontalpodautoscalers/status"]),
                rule(&["get", "update"], &["*"], &["*/scale"]),
                rule(&["list"], &[""], &["pods"]),
                rule(&["list"], &["metrics.k8s.io"], &["pods"]),
                rule(&["get", "list"], &["custom.metrics.k8s.io", "external.metrics.k8s.io"], &["*"]),
                events(),
            ],
        ),
        (
            "job-controller",
            vec![
                rule(&["get", "list", "watch", "update", "patch"], &["batch"], &["jobs"]),
                rule(update, &["batch"], &["jobs/status", "jobs/finalizers"]),
                rule(&["list", "watch", "create", "delete", "patch"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "namespace-controller",
            vec![
                rule(&["get", "list", "watch", "delete"], &[""], &["namespaces"]),
                rule(update, &[""], &["namespaces/finalize", "namespaces/status"]),
                rule(&["get", "list", "delete", "deletecollection"], &["*"], &["*"]),
            ],
        ),
        (
            "node-controller",
            vec![
                rule(&["get", "list", "update", "delete", "patch"], &[""], &["nodes"]),
                rule(&["patch", "update"], &[""], &["nodes/status"]),
                rule(&["list", "delete"], &[""], &["pods"]),
                rule(update, &[""], &["pods/status"]),
                events(),
            ],
        ),
        (
            "persistent-volume-binder",
            vec![
                rule(&["get", "list", "watch", "update", "create", "delete"], &[""], &["persistentvolumes"]),
                rule(update, &[""], &["persistentvolumes/status"]),
                rule(&["get", "list", "watch", "update"], &[""], &["persistentvolumeclaims"]),
                rule(update, &[""], &["persistentvolumeclaims/status"]),
                rule(&["list", "watch", "get", "create", "delete"], &[""], &["pods"]),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                events(),
            ],
        ),
        (
            "pod-garbage-collector",
            vec![
                rule(&["list", "watch", "delete"], &[""], &["pods"]),
                rule(&["get", "list"], &[""], &["nodes"]),
                rule(&["patch"], &[""], &["pods/status"]),
            ],
        ),
        (
            "pv-protection-controller",
            vec![rule(&["get", "list", "watch", "update"], &[""], &["persistentvolumes"]), events()],
        ),
        (
            "pvc-protection-controller",
            vec![
                rule(&["get", "list", "watch", "update"], &[""], &["persistentvolumeclaims"]),
                rule(&["list", "watch", "get"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "replicaset-controller",
            vec![
                rule(&["get", "list", "watch", "update"], &["apps"], &["replicasets"]),
                rule(update, &["apps"], &["replicasets/status", "replicasets/finalizers"]),
                rule(&["list", "watch", "patch", "create", "delete"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "replication-controller",
            vec![
                rule(&["get", "list", "watch", "update"], &[""], &["replicationcontrollers"]),
                rule(update, &[""], &["replicationcontrollers/status", "replicationcontrollers/finalizers"]),
                rule(&["list", "watch", "patch", "create", "delete"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "resourcequota-controller",
            vec![
                rule(&["list", "watch"], &["*"], &["*"]),
                rule(READ, &[""], &["resourcequotas"]),
                rule(update, &[""], &["resourcequotas/status"]),
                events(),
            ],
        ),
        ("root-ca-cert-publisher", vec![rule(&["create", "update"], &[""], &["configmaps"]), events()]),
        ("service-account-controller", vec![rule(&["create"], &[""], &["serviceaccounts"]), events()]),
        (
            "service-controller",
            vec![
                rule(READ, &[""], &["services"]),
                rule(&["patch", "update"], &[""], &["services/status"]),
                rule(READ, &[""], &["nodes"]),
                events(),
            ],
        ),
        (
            "statefulset-controller",
            vec![
                rule(&["list", "watch"], &[""], &["pods"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(update, &["apps"], &["statefulsets/status", "statefulsets/finalizers"]),
                rule(&["get", "create", "delete", "update", "patch"], &[""], &["pods"]),
                rule(
                    &["get", "create", "delete", "update", "patch", "list", "watch"],
                    &["apps"],
                    &["controllerrevisions"],
                ),
                rule(&["get", "create"], &[""], &["persistentvolumeclaims"]),
                rule(&["update", "delete"], &[""], &["persistentvolumeclaims"]),
                events(),
            ],
        ),
        ("ttl-controller", vec![rule(&["update", "patch", "list", "watch"], &[""], &["nodes"]), events()]),
        (
            "ttl-after-finished-controller",
            vec![rule(&["get", "list", "watch", "delete"], &["batch"], &["jobs"]), events()],
        ),
    ]
}
