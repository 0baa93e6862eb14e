//! Which decoded zero values mean "unset".
//!
//! gogo-protobuf (the Go encoder behind client-go) writes every non-pointer
//! field, so a body from `kubectl create` carries `""`, `0`, `false` and an
//! empty `creationTimestamp` for everything the user didn't set. JSON from the
//! same Go structs omits those where the field is `omitempty`, and the server's
//! defaulting keys on absence (an omitted `imagePullPolicy` must stay absent).
//! A pointer field, though, is written only when set, and there a zero is a
//! value: `replicas: 0`, `automountServiceAccountToken: false`,
//! `maxUnavailable: 0`. The wire can't tell the two apart, so:
//!
//! - Fields the schema marks required (Go fields without `omitempty`) keep
//!   whatever arrived, as Go's JSON does (`containerPort: 0`, `roleRef.apiGroup: ""`).
//! - Empty strings of optional fields are dropped: a pointer string whose empty
//!   value differs from unset is rare, and those are listed in [`KEEP_EMPTY_STRING`].
//! - `0`, `false` and IntOrString zeros of optional fields are kept, because
//!   dropping a meaningful pointer zero silently changes the object (a
//!   Deployment scaled to 0 would get 1 replica). The non-pointer `omitempty`
//!   fields whose zero Go's JSON leaves out are listed in [`DROP_ZERO`], so
//!   kubectl-created objects look like upstream's (no `stdin: false`,
//!   `nodePort: 0`, `ingress port number: 0` beside a port name). Every entry
//!   also has "unset" meaning zero, so an entry that turned out to be a pointer
//!   would still not change the object's meaning.
//! - Zero `Time`/`MicroTime` (seconds and nanos 0), empty `Quantity` strings and
//!   empty raw JSON are dropped: Go's JSON writes them as `null`.
//! - Empty nested messages stay `{}` (`resources: {}`, `status: {}`), as in
//!   Go's JSON, which never omits structs.
//! - List items and map entries are values, never dropped (`app: ""` is a label).

/// Optional fields whose decoded zero (`0`, `false`, or an IntOrString `0`/`""`)
/// is left out, by message.
const DROP_ZERO: &[(&str, &[&str])] = &[
    ("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", &["generation"]),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Condition", &["observedGeneration"]),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Status", &["code"]),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.StatusDetails", &["retryAfterSeconds"]),
    ("k8s.io.api.core.v1.Container", &["stdin", "stdinOnce", "tty"]),
    ("k8s.io.api.core.v1.EphemeralContainerCommon", &["stdin", "stdinOnce", "tty"]),
    ("k8s.io.api.core.v1.ContainerPort", &["hostPort"]),
    (
        "k8s.io.api.core.v1.Probe",
        &["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"],
    ),
    ("k8s.io.api.core.v1.PodSpec", &["hostNetwork", "hostPID", "hostIPC"]),
    ("k8s.io.api.core.v1.VolumeMount", &["readOnly"]),
    ("k8s.io.api.core.v1.PersistentVolumeClaimVolumeSource", &["readOnly"]),
    ("k8s.io.api.core.v1.NFSVolumeSource", &["readOnly"]),
    ("k8s.io.api.core.v1.CSIPersistentVolumeSource", &["readOnly"]),
    ("k8s.io.api.core.v1.ServicePort", &["nodePort", "targetPort"]),
    ("k8s.io.api.core.v1.ServiceSpec", &["publishNotReadyAddresses", "healthCheckNodePort"]),
    ("k8s.io.api.core.v1.NodeSpec", &["unschedulable"]),
    ("k8s.io.api.core.v1.ReplicationControllerSpec", &["minReadySeconds"]),
    (
        "k8s.io.api.core.v1.ReplicationControllerStatus",
        &["fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"],
    ),
    ("k8s.io.api.core.v1.Event", &["count"]),
    ("k8s.io.api.core.v1.EventSeries", &["count"]),
    ("k8s.io.api.core.v1.ContainerStateTerminated", &["signal"]),
    ("k8s.io.api.apps.v1.DeploymentSpec", &["minReadySeconds", "paused"]),
    (
        "k8s.io.api.apps.v1.DeploymentStatus",
        &[
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ],
    ),
    ("k8s.io.api.apps.v1.ReplicaSetSpec", &["minReadySeconds"]),
    (
        "k8s.io.api.apps.v1.ReplicaSetStatus",
        &["fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"],
    ),
    ("k8s.io.api.apps.v1.StatefulSetSpec", &["minReadySeconds"]),
    (
        "k8s.io.api.apps.v1.StatefulSetStatus",
        &["observedGeneration", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"],
    ),
    ("k8s.io.api.apps.v1.DaemonSetSpec", &["minReadySeconds"]),
    (
        "k8s.io.api.apps.v1.DaemonSetStatus",
        &["observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable"],
    ),
    ("k8s.io.api.batch.v1.JobStatus", &["active", "succeeded", "failed"]),
    ("k8s.io.api.networking.v1.ServiceBackendPort", &["number"]),
    ("k8s.io.api.policy.v1.PodDisruptionBudgetStatus", &["observedGeneration"]),
    ("k8s.io.api.scheduling.v1.PriorityClass", &["globalDefault"]),
    ("k8s.io.api.authorization.v1.SubjectAccessReviewStatus", &["denied"]),
    (
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec",
        &["preserveUnknownFields"],
    ),
];

/// Optional pointer strings whose empty value is itself meaningful.
const KEEP_EMPTY_STRING: &[(&str, &[&str])] = &[
    // `""` asks for no storage class (no dynamic provisioning); unset asks for the default class.
    ("k8s.io.api.core.v1.PersistentVolumeClaimSpec", &["storageClassName", "volumeAttributesClassName"]),
];

/// Messages are named as upstream spells them; k8s-pb's names differ in case
/// only (`NFSVolumeSource` is `NfsVolumeSource`).
fn listed(table: &[(&str, &[&str])], message: &str, json: &str) -> bool {
    table.iter().any(|(m, fields)| m.eq_ignore_ascii_case(message) && fields.contains(&json))
}

/// How a decoded zero of one field is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroPolicy {
    /// Drop `""`.
    pub drop_empty_string: bool,
    /// Drop `0`, `false`, and IntOrString `0`/`""`.
    pub drop_zero: bool,
}

/// The policy for field `json` of `message`; `required` when the schema lists it as required.
pub fn policy(message: &str, json: &str, required: bool) -> ZeroPolicy {
    if required {
        return ZeroPolicy { drop_empty_string: false, drop_zero: false };
    }
    ZeroPolicy {
        drop_empty_string: !listed(KEEP_EMPTY_STRING, message, json),
        drop_zero: listed(DROP_ZERO, message, json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_keep_zeros_and_optional_strings_drop_empty() {
        let p = policy("k8s.io.api.core.v1.ContainerPort", "containerPort", true);
        assert!(!p.drop_zero && !p.drop_empty_string);
        assert!(policy("k8s.io.api.core.v1.ContainerPort", "hostPort", false).drop_zero);
        assert!(!policy("k8s.io.api.apps.v1.DeploymentSpec", "replicas", false).drop_zero);
        assert!(policy("k8s.io.api.core.v1.Container", "imagePullPolicy", false).drop_empty_string);
        assert!(!policy("k8s.io.api.core.v1.PersistentVolumeClaimSpec", "storageClassName", false).drop_empty_string);
        assert!(policy("k8s.io.api.core.v1.NfsVolumeSource", "readOnly", false).drop_zero);
    }

    #[test]
    fn listed_messages_exist_in_the_table() {
        for (message, _) in DROP_ZERO.iter().chain(KEEP_EMPTY_STRING) {
            let found = super::super::descriptor::messages().iter().any(|m| m.name.eq_ignore_ascii_case(message));
            assert!(found, "{message} not in k8s-pb");
        }
    }
}
