//! Pods: defaulting of the spec (shared pod-spec rules plus pod-only ones), status
//! reset to `Pending` with the computed QoS class on create, upstream's create and
//! update validation, the `kubectl get pods` row, field selectors and grace periods.

mod print;
mod qos;
mod update;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use serde_json::{Value, json};

use crate::kinds::common::pod_spec::{SpecOwner, default_pod_only, default_pod_spec, validate_pod_spec};
use crate::kinds::common::typed::decode_or_default;
use crate::strategy::{Context, Strategy, decode, normalize_as, typed};
use crate::table::Column;
use crate::validation::{FieldError, FieldPath};

pub use print::{PodSummary, summarize};
pub use qos::qos_class;

pub struct PodStrategy;

/// Applies every defaulting rule a pod's spec gets.
fn default_spec(spec: &mut PodSpec) {
    default_pod_spec(spec);
    default_pod_only(spec);
}

fn spec_of(pod: &Pod) -> PodSpec {
    pod.spec.clone().unwrap_or_default()
}

fn decode_error(e: String) -> Vec<FieldError> {
    vec![FieldError::invalid("spec", Value::Null, e)]
}

impl Strategy for PodStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Pod>(obj)
    }

    fn default(&self, obj: &mut Value) {
        typed::<Pod>(obj, |pod| default_spec(pod.spec.get_or_insert_with(PodSpec::default)));
    }

    /// Status starts over as `Pending` with the QoS class of the (defaulted) spec; pods
    /// with scheduling gates also get the `PodScheduled=False/SchedulingGated` condition.
    fn prepare_for_create(&self, obj: &mut Value) {
        let pod: Pod = decode_or_default(obj);
        let mut spec = spec_of(&pod);
        default_spec(&mut spec);
        let mut status = json!({"phase": "Pending", "qosClass": qos_class(&spec)});
        if spec.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()) {
            status["conditions"] = json!([{
                "type": "PodScheduled",
                "status": "False",
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "lastProbeTime": null,
                "lastTransitionTime": null,
            }]);
        }
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), status);
        }
    }

    fn has_status(&self) -> bool {
        true
    }

    /// Since v1.33 upstream sets `metadata.generation` on pods and bumps it on spec changes.
    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let pod: Pod = match decode(obj) {
            Ok(p) => p,
            Err(e) => return decode_error(e),
        };
        let spec = spec_of(&pod);
        let path = FieldPath::root("spec");
        let mut errs = validate_pod_spec(&spec, &path, SpecOwner::Pod);
        if spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()) {
            errs.push(FieldError::forbidden(path.child("ephemeralContainers"), "cannot be set on create"));
        }
        if spec.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty())
            && spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
        {
            errs.push(FieldError::forbidden(
                path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let (new_pod, old_pod): (Pod, Pod) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return decode_error(e),
        };
        let new_spec = spec_of(&new_pod);
        let mut errs = validate_pod_spec(&new_spec, &FieldPath::root("spec"), SpecOwner::Pod);
        errs.extend(update::validate_spec_update(&new_spec, &spec_of(&old_pod)));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        print::columns()
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        print::row(&decode_or_default(obj), ctx)
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        Some(match label {
            "spec.nodeName" => s("/spec/nodeName"),
            "spec.restartPolicy" => s("/spec/restartPolicy"),
            "spec.schedulerName" => s("/spec/schedulerName"),
            "spec.serviceAccountName" => s("/spec/serviceAccountName"),
            "spec.hostNetwork" => {
                obj.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false).to_string()
            }
            "status.phase" => s("/status/phase"),
            "status.podIP" => s("/status/podIPs/0/ip"),
            "status.nominatedNodeName" => s("/status/nominatedNodeName"),
            _ => return None,
        })
    }

    /// The requested period, else the pod's `terminationGracePeriodSeconds`; at once for
    /// pods never scheduled or already finished; negative periods become 1 second.
    fn graceful_delete_seconds(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let mut period = requested
            .or_else(|| obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
            .unwrap_or(0);
        let scheduled = obj.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
        if !scheduled || matches!(phase, "Succeeded" | "Failed") {
            period = 0;
        }
        if period < 0 {
            period = 1;
        }
        (period > 0).then_some(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted(v: Value) -> Value {
        let mut v = v;
        PodStrategy.normalize(&mut v).unwrap();
        PodStrategy.default(&mut v);
        v
    }

    fn pod(containers: Value) -> Value {
        defaulted(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}}),
        )
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn normalize_drops_unknown_fields_and_reports_shape_errors() {
        let mut v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [], "bogus": 1}});
        PodStrategy.normalize(&mut v).unwrap();
        assert!(v["spec"].get("bogus").is_none());
        let mut bad = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "nope"}});
        assert!(PodStrategy.normalize(&mut bad).is_err());
    }

    #[test]
    fn pod_defaults() {
        let v = pod(json!([{"name": "web", "image": "nginx"}]));
        let spec = &v["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(spec["containers"][0]["resources"], json!({}));
        assert!(spec.get("serviceAccountName").is_none(), "service account is admission's job");
    }

    #[test]
    fn create_resets_status_with_qos() {
        let mut v = pod(json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]));
        v["status"] = json!({"phase": "Running", "podIP": "1.2.3.4"});
        PodStrategy.prepare_for_create(&mut v);
        assert_eq!(v["status"], json!({"phase": "Pending", "qosClass": "Guaranteed"}));

        let mut gated = pod(json!([{"name": "a", "image": "x"}]));
        gated["spec"]["schedulingGates"] = json!([{"name": "wait"}]);
        PodStrategy.prepare_for_create(&mut gated);
        assert_eq!(gated["status"]["qosClass"], "BestEffort");
        assert_eq!(gated["status"]["conditions"][0]["reason"], "SchedulingGated");
    }

    #[test]
    fn update_keeps_status() {
        let old = json!({"spec": {}, "status": {"phase": "Running"}});
        let mut new = json!({"spec": {}, "status": {"phase": "Failed"}});
        PodStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["phase"], "Running");
    }

    #[test]
    fn container_rules() {
        assert_eq!(messages(PodStrategy.validate_create(&pod(json!([])))), vec!["spec.containers: Required value"]);
        let errs = messages(PodStrategy.validate_create(&pod(json!([
            {"name": "Web", "image": "x"},
            {"name": "b", "image": ""},
            {"name": "b", "image": "y"}
        ]))));
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label"));
        assert_eq!(errs[1], "spec.containers[1].image: Required value");
        assert_eq!(errs[2], "spec.containers[2].name: Duplicate value: \"b\"");
        // Init and regular containers share one name space.
        let mut shared = pod(json!([{"name": "a", "image": "x"}]));
        shared["spec"]["initContainers"] =
            json!([{"name": "a", "image": "x", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}]);
        assert_eq!(
            messages(PodStrategy.validate_create(&shared)),
            vec!["spec.containers[0].name: Duplicate value: \"a\""]
        );
    }

    #[test]
    fn port_rules() {
        let errs = messages(PodStrategy.validate_create(&pod(json!([{"name": "a", "image": "x", "ports": [
            {"containerPort": 70000},
            {"containerPort": 80, "protocol": "HTTP"},
            {"containerPort": 81, "name": "HTTP"},
            {"containerPort": 82, "name": "web"},
            {"containerPort": 83, "name": "web"}
        ]}]))));
        assert_eq!(
            errs,
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[2].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.containers[0].ports[2].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)",
                "spec.containers[0].ports[4].name: Duplicate value: \"web\"",
            ]
        );
    }

    #[test]
    fn probe_rules() {
        let errs = messages(PodStrategy.validate_create(&pod(json!([{"name": "a", "image": "x",
            "livenessProbe": {"successThreshold": 2, "tcpSocket": {"port": 80}},
            "readinessProbe": {"periodSeconds": 5},
            "startupProbe": {"exec": {"command": ["true"]}, "httpGet": {"port": 80}, "initialDelaySeconds": -1}
        }]))));
        assert_eq!(
            errs,
            vec![
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
                "spec.containers[0].startupProbe.httpGet: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].startupProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
    }

    #[test]
    fn volume_and_env_rules() {
        let mut v = pod(json!([{"name": "a", "image": "x",
            "volumeMounts": [{"name": "data", "mountPath": "/d"}, {"name": "missing", "mountPath": "/d"}],
            "env": [{"name": "A=B"}, {"name": "X", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        }]));
        v["spec"]["volumes"] = json!([
            {"name": "data", "emptyDir": {}},
            {"name": "data", "emptyDir": {}},
            {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}
        ]);
        let errs = messages(PodStrategy.validate_create(&v));
        assert_eq!(
            errs,
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.volumes[2].emptyDir: Forbidden: may not specify more than 1 volume type",
                "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
                "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique",
            ]
        );
    }

    #[test]
    fn policy_and_resource_rules() {
        let mut v = pod(
            json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}}]),
        );
        v["spec"]["restartPolicy"] = json!("Sometimes");
        v["spec"]["dnsPolicy"] = json!("Bogus");
        let errs = messages(PodStrategy.validate_create(&v));
        assert_eq!(
            errs,
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsPolicy: Unsupported value: \"Bogus\": supported values: \"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\"",
            ]
        );
    }

    #[test]
    fn update_rule_applies() {
        let old = pod(json!([{"name": "a", "image": "nginx:1"}]));
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(PodStrategy.validate_update(&new, &old).is_empty());
        new["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "protocol": "TCP"}]);
        let errs = messages(PodStrategy.validate_update(&new, &old));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than"));
    }

    #[test]
    fn field_labels() {
        let v = json!({"spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": true},
                       "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}});
        assert_eq!(PodStrategy.field_label(&v, "spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(PodStrategy.field_label(&v, "spec.hostNetwork").as_deref(), Some("true"));
        assert_eq!(PodStrategy.field_label(&v, "status.phase").as_deref(), Some("Running"));
        assert_eq!(PodStrategy.field_label(&v, "status.podIP").as_deref(), Some("10.0.0.1"));
        assert_eq!(PodStrategy.field_label(&v, "spec.serviceAccountName").as_deref(), Some(""));
        assert_eq!(PodStrategy.field_label(&v, "spec.image"), None);
    }

    #[test]
    fn grace_periods() {
        let scheduled =
            json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 45}, "status": {"phase": "Running"}});
        assert_eq!(PodStrategy.graceful_delete_seconds(&scheduled, None), Some(45));
        assert_eq!(PodStrategy.graceful_delete_seconds(&scheduled, Some(5)), Some(5));
        assert_eq!(PodStrategy.graceful_delete_seconds(&scheduled, Some(0)), None);
        assert_eq!(PodStrategy.graceful_delete_seconds(&scheduled, Some(-3)), Some(1));
        let unscheduled = json!({"spec": {"terminationGracePeriodSeconds": 45}});
        assert_eq!(PodStrategy.graceful_delete_seconds(&unscheduled, None), None);
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(PodStrategy.graceful_delete_seconds(&done, Some(30)), None);
    }
}
