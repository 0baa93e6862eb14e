//! End-to-end tests: bodies built with k8s-pb's prost types the way client-go's
//! gogo encoder writes them (every non-pointer field present, even when empty),
//! decoded and compared with the JSON upstream would produce; JSON round trips;
//! and malformed input.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::autoscaling::v1 as autoscaling;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::networking::v1 as networking;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Value, json};

use super::{MAGIC, ProtoError, decode_object, encode_object};

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `k8s\0` + runtime.Unknown around a message, as client-go sends it.
fn envelope(api_version: &str, kind: &str, message: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: s(api_version), kind: s(kind) }),
        raw: Some(message.encode_to_vec()),
        content_encoding: s(""),
        content_type: s(""),
    };
    [MAGIC, &unknown.encode_to_vec()].concat()
}

/// ObjectMeta as gogo writes it: every string, `generation` and a zero `creationTimestamp`.
fn gogo_meta(name: &str, labels: BTreeMap<String, String>) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(""),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time { seconds: Some(0), nanos: Some(0) }),
        labels,
        ..Default::default()
    }
}

fn gogo_container(name: &str, image: &str) -> core::Container {
    core::Container {
        name: s(name),
        image: s(image),
        working_dir: s(""),
        resources: Some(core::ResourceRequirements::default()),
        termination_message_path: s(""),
        termination_message_policy: s(""),
        image_pull_policy: s(""),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        ..Default::default()
    }
}

fn gogo_pod_spec(containers: Vec<core::Container>) -> core::PodSpec {
    core::PodSpec {
        containers,
        restart_policy: s(""),
        dns_policy: s(""),
        service_account_name: s(""),
        service_account: s(""),
        node_name: s(""),
        host_network: Some(false),
        host_pid: Some(false),
        host_ipc: Some(false),
        hostname: s(""),
        subdomain: s(""),
        scheduler_name: s(""),
        priority_class_name: s(""),
        ..Default::default()
    }
}

fn gogo_int_or_string(v: IntOrString) -> Option<IntOrString> {
    Some(IntOrString { r#type: v.r#type.or(Some(0)), int_val: v.int_val.or(Some(0)), str_val: v.str_val.or(s("")) })
}

fn int(v: i32) -> Option<IntOrString> {
    gogo_int_or_string(IntOrString { r#type: Some(0), int_val: Some(v), str_val: None })
}

fn string(v: &str) -> Option<IntOrString> {
    gogo_int_or_string(IntOrString { r#type: Some(1), int_val: None, str_val: s(v) })
}

/// `kubectl create deployment web --image=nginx --replicas=N`.
fn kubectl_deployment(replicas: i32) -> apps::Deployment {
    let app = labels(&[("app", "web")]);
    apps::Deployment {
        metadata: Some(gogo_meta("web", app.clone())),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(replicas),
            selector: Some(meta::LabelSelector { match_labels: app.clone(), match_expressions: vec![] }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(gogo_meta("", app)),
                spec: Some(gogo_pod_spec(vec![gogo_container("nginx", "nginx")])),
            }),
            strategy: Some(apps::DeploymentStrategy { r#type: s(""), rolling_update: None }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            updated_replicas: Some(0),
            ready_replicas: Some(0),
            available_replicas: Some(0),
            unavailable_replicas: Some(0),
            ..Default::default()
        }),
    }
}

#[test]
fn kubectl_create_deployment() {
    let body = envelope("apps/v1", "Deployment", &kubectl_deployment(2));
    assert_eq!(
        decode_object(&body).unwrap(),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
                },
                "strategy": {},
            },
            "status": {},
        })
    );
}

#[test]
fn pointer_zeros_survive() {
    let body = envelope("apps/v1", "Deployment", &kubectl_deployment(0));
    assert_eq!(decode_object(&body).unwrap()["spec"]["replicas"], json!(0));

    let mut deployment = kubectl_deployment(1);
    let spec = deployment.spec.as_mut().unwrap();
    spec.strategy.as_mut().unwrap().rolling_update =
        Some(apps::RollingUpdateDeployment { max_unavailable: int(0), max_surge: string("25%") });
    spec.revision_history_limit = Some(0);
    let pod = spec.template.as_mut().unwrap().spec.as_mut().unwrap();
    pod.automount_service_account_token = Some(false);
    pod.termination_grace_period_seconds = Some(0);
    let decoded = decode_object(&envelope("apps/v1", "Deployment", &deployment)).unwrap();
    assert_eq!(decoded["spec"]["strategy"], json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}));
    assert_eq!(decoded["spec"]["revisionHistoryLimit"], json!(0));
    let pod = &decoded["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], json!(false));
    assert_eq!(pod["terminationGracePeriodSeconds"], json!(0));
}

#[test]
fn kubectl_create_service_with_int_and_string_target_ports() {
    let port = |name: &str, port: i32, target: Option<IntOrString>| core::ServicePort {
        name: s(name),
        protocol: s("TCP"),
        port: Some(port),
        target_port: target,
        node_port: Some(0),
        ..Default::default()
    };
    let service = core::Service {
        metadata: Some(gogo_meta("web", labels(&[("app", "web")]))),
        spec: Some(core::ServiceSpec {
            ports: vec![port("5000-5000", 5000, int(5000)), port("web", 80, string("http")), port("bare", 81, int(0))],
            selector: labels(&[("app", "web")]),
            cluster_ip: s(""),
            r#type: s("ClusterIP"),
            session_affinity: s(""),
            load_balancer_ip: s(""),
            external_name: s(""),
            external_traffic_policy: s(""),
            health_check_node_port: Some(0),
            publish_not_ready_addresses: Some(false),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus::default()),
            conditions: vec![],
        }),
    };
    let decoded = decode_object(&envelope("v1", "Service", &service)).unwrap();
    assert_eq!(
        decoded,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "ports": [
                    {"name": "5000-5000", "protocol": "TCP", "port": 5000, "targetPort": 5000},
                    {"name": "web", "protocol": "TCP", "port": 80, "targetPort": "http"},
                    // An unset (non-pointer) targetPort arrives as 0: omitted, so defaulting sets it.
                    {"name": "bare", "protocol": "TCP", "port": 81},
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        })
    );
}

#[test]
fn kubectl_create_ingress_inlines_the_rule_value() {
    let path = |p: &str, path_type: &str, port: networking::ServiceBackendPort| networking::HttpIngressPath {
        path: s(p),
        path_type: s(path_type),
        backend: Some(networking::IngressBackend {
            service: Some(networking::IngressServiceBackend { name: s("web"), port: Some(port) }),
            resource: None,
        }),
    };
    let ingress = networking::Ingress {
        metadata: Some(gogo_meta("web", BTreeMap::new())),
        spec: Some(networking::IngressSpec {
            rules: vec![networking::IngressRule {
                host: s(""),
                ingress_rule_value: Some(networking::IngressRuleValue {
                    http: Some(networking::HttpIngressRuleValue {
                        paths: vec![
                            path("/", "Exact", networking::ServiceBackendPort { name: s(""), number: Some(5000) }),
                            path("/api", "Prefix", networking::ServiceBackendPort { name: s("http"), number: Some(0) }),
                        ],
                    }),
                }),
            }],
            ..Default::default()
        }),
        status: Some(networking::IngressStatus { load_balancer: Some(Default::default()) }),
    };
    let decoded = decode_object(&envelope("networking.k8s.io/v1", "Ingress", &ingress)).unwrap();
    assert_eq!(
        decoded["spec"],
        json!({"rules": [{"http": {"paths": [
            {"path": "/", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"number": 5000}}}},
            {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
        ]}}]})
    );
    assert_eq!(decoded["status"], json!({"loadBalancer": {}}));
}

#[test]
fn secret_bytes_and_configmap_maps() {
    let secret = core::Secret {
        metadata: Some(gogo_meta("creds", BTreeMap::new())),
        data: [("password".to_string(), b"s3cr\0t".to_vec()), ("empty".to_string(), vec![])].into(),
        r#type: s("Opaque"),
        ..Default::default()
    };
    assert_eq!(
        decode_object(&envelope("v1", "Secret", &secret)).unwrap(),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "data": {"password": "czNjcgB0", "empty": ""},
            "type": "Opaque",
        })
    );
    let config_map = core::ConfigMap {
        metadata: Some(gogo_meta("cfg", BTreeMap::new())),
        data: labels(&[("a", "1"), ("blank", "")]),
        binary_data: [("bin".to_string(), vec![0u8, 1, 2])].into(),
        immutable: Some(true),
    };
    assert_eq!(
        decode_object(&envelope("v1", "ConfigMap", &config_map)).unwrap(),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg"},
            "data": {"a": "1", "blank": ""},
            "binaryData": {"bin": "AAEC"},
            "immutable": true,
        })
    );
}

#[test]
fn kubectl_autoscale_hpa_v1() {
    let hpa = autoscaling::HorizontalPodAutoscaler {
        metadata: Some(gogo_meta("web", BTreeMap::new())),
        spec: Some(autoscaling::HorizontalPodAutoscalerSpec {
            scale_target_ref: Some(autoscaling::CrossVersionObjectReference {
                kind: s("Deployment"),
                name: s("web"),
                api_version: s("apps/v1"),
            }),
            min_replicas: Some(2),
            max_replicas: Some(10),
            target_cpu_utilization_percentage: Some(50),
        }),
        status: Some(autoscaling::HorizontalPodAutoscalerStatus {
            current_replicas: Some(0),
            desired_replicas: Some(0),
            ..Default::default()
        }),
    };
    assert_eq!(
        decode_object(&envelope("autoscaling/v1", "HorizontalPodAutoscaler", &hpa)).unwrap(),
        json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "targetCPUUtilizationPercentage": 50,
            },
            // Required (non-omitempty) fields keep their zeros, as Go's JSON writes them.
            "status": {"currentReplicas": 0, "desiredReplicas": 0},
        })
    );
}

fn gogo_probe(handler: core::ProbeHandler, initial_delay: i32) -> Option<core::Probe> {
    Some(core::Probe {
        handler: Some(handler),
        initial_delay_seconds: Some(initial_delay),
        timeout_seconds: Some(0),
        period_seconds: Some(0),
        success_threshold: Some(0),
        failure_threshold: Some(0),
        termination_grace_period_seconds: None,
    })
}

#[test]
fn pod_with_probes_resources_env_and_volumes() {
    let quantities =
        |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), Quantity { string: s(v) })).collect();
    let mut container = gogo_container("app", "nginx:1.27");
    container.ports = vec![core::ContainerPort {
        name: s(""),
        host_port: Some(0),
        container_port: Some(80),
        protocol: s("TCP"),
        host_ip: s(""),
    }];
    container.resources = Some(core::ResourceRequirements {
        limits: quantities(&[("cpu", "500m"), ("memory", "128Mi")]),
        requests: quantities(&[("cpu", "250m")]),
        claims: vec![],
    });
    container.env = vec![
        core::EnvVar { name: s("A"), value: s("1"), value_from: None },
        core::EnvVar { name: s("EMPTY"), value: s(""), value_from: None },
        core::EnvVar {
            name: s("PASSWORD"),
            value: s(""),
            value_from: Some(core::EnvVarSource {
                secret_key_ref: Some(core::SecretKeySelector {
                    local_object_reference: Some(core::LocalObjectReference { name: s("creds") }),
                    key: s("password"),
                    optional: Some(false),
                }),
                ..Default::default()
            }),
        },
    ];
    container.liveness_probe = gogo_probe(
        core::ProbeHandler {
            http_get: Some(core::HttpGetAction {
                path: s("/healthz"),
                port: int(8080),
                host: s(""),
                scheme: s("HTTP"),
                http_headers: vec![core::HttpHeader { name: s("X-Probe"), value: s("") }],
            }),
            ..Default::default()
        },
        3,
    );
    container.readiness_probe = gogo_probe(
        core::ProbeHandler {
            exec: Some(core::ExecAction { command: vec!["cat".into(), "/tmp/ready".into()] }),
            ..Default::default()
        },
        0,
    );
    container.startup_probe = gogo_probe(
        core::ProbeHandler {
            tcp_socket: Some(core::TcpSocketAction { port: string("http"), host: s("") }),
            ..Default::default()
        },
        0,
    );
    let mut spec = gogo_pod_spec(vec![container]);
    spec.volumes = vec![
        core::Volume {
            name: s("scratch"),
            volume_source: Some(core::VolumeSource {
                empty_dir: Some(core::EmptyDirVolumeSource {
                    medium: s(""),
                    size_limit: Some(Quantity { string: s("1Gi") }),
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: s("config"),
            volume_source: Some(core::VolumeSource {
                config_map: Some(core::ConfigMapVolumeSource {
                    local_object_reference: Some(core::LocalObjectReference { name: s("cfg") }),
                    default_mode: Some(420),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        },
    ];
    let mut metadata = gogo_meta("app", BTreeMap::new());
    metadata.namespace = s("default");
    metadata.creation_timestamp = Some(meta::Time { seconds: Some(1_704_164_645), nanos: Some(0) });
    let pod = core::Pod { metadata: Some(metadata), spec: Some(spec), status: None };

    let decoded = decode_object(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(
        decoded,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "app", "namespace": "default", "creationTimestamp": "2024-01-02T03:04:05Z"},
            "spec": {
                "volumes": [
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "config", "configMap": {"name": "cfg", "defaultMode": 420}},
                ],
                "containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "EMPTY"},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password", "optional": false}}},
                    ],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP", "httpHeaders": [{"name": "X-Probe", "value": ""}]},
                        "initialDelaySeconds": 3,
                    },
                    "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}},
                    "startupProbe": {"tcpSocket": {"port": "http"}},
                }],
            },
        })
    );
}

/// Encodes JSON to protobuf and decodes it back.
fn round_trip(obj: Value) {
    let bytes = encode_object(&obj).unwrap_or_else(|e| panic!("encode {}: {e}", obj["kind"]));
    assert!(bytes.starts_with(MAGIC));
    assert_eq!(decode_object(&bytes).unwrap(), obj);
}

#[test]
fn json_round_trips() {
    round_trip(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "0b0a7d6e-3c59-4c8c-9d1c-0d2f0a5b6c7d",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "annotations": {"deployment.kubernetes.io/revision": "2"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u", "controller": true}],
            "finalizers": ["example.com/f"],
            "managedFields": [{
                "manager": "kubectl",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": "2024-01-02T03:04:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "c",
                        "image": "busybox",
                        "command": ["sh", "-c", "sleep 1"],
                        "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                        "lifecycle": {"preStop": {"exec": {"command": ["true"]}}, "postStart": {"sleep": {"seconds": 1}}},
                        "livenessProbe": {"grpc": {"port": 9090, "service": "health"}, "periodSeconds": 5},
                    }],
                    "securityContext": {"supplementalGroups": [1, -2, 3000000000i64]},
                    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}],
                    "volumes": [{"name": "p", "persistentVolumeClaim": {"claimName": "data", "readOnly": true}}],
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "paused": true,
        },
        "status": {
            "conditions": [{
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2024-01-02T03:04:05Z",
                "lastTransitionTime": "2024-01-02T03:04:06Z",
                "reason": "MinimumReplicasAvailable",
            }],
            "replicas": 1,
        },
    }));
    round_trip(json!({
        "apiVersion": "v1",
        "kind": "PodList",
        "metadata": {"resourceVersion": "7", "continue": "abc"},
        "items": [
            {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}},
            {"metadata": {"name": "b"}},
        ],
    }));
    round_trip(json!({
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": "pods \"x\" not found",
        "reason": "NotFound",
        "details": {"name": "x", "kind": "pods", "causes": [{"reason": "FieldValueInvalid", "field": "spec"}]},
        "code": 404,
    }));
    round_trip(
        json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Background"}),
    );
    round_trip(json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "Started",
        "eventTime": "2024-01-02T03:04:05.123456Z",
        "count": 2,
        "type": "Normal",
    }));
    round_trip(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2024-01-02T03:04:05.000001Z"},
    }));
    round_trip(json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "r"},
        "data": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}},
        "revision": 1,
    }));
    round_trip(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "pv"},
        "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/data"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "local"},
    }));
    round_trip(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c"},
        "spec": {"storageClassName": "", "resources": {"requests": {"storage": "1Gi"}}},
    }));
    round_trip(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "metadata": {},
        "spec": {"token": "t"},
        "status": {"authenticated": true, "user": {"username": "u", "extra": {"scopes": ["a", "b"]}}},
    }));
    round_trip(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "names": {"plural": "crontabs", "kind": "CronTab"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": true,
                            "properties": {
                                "replicas": {"type": "integer", "minimum": 1.0, "default": 1},
                                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                "either": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
                            },
                            "required": ["replicas"],
                        },
                        "extra": {"type": "object", "additionalProperties": false},
                        "tuple": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                    },
                }},
            }],
        },
    }));
}

#[test]
fn encoded_bodies_are_what_prost_reads() {
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": "2024-01-02T03:04:05Z"},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{
                "name": "nginx",
                "image": "nginx",
                "readinessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 2},
            }]}},
        },
    });
    let bytes = encode_object(&obj).unwrap();
    let unknown = Unknown::decode(&bytes[MAGIC.len()..]).unwrap();
    let type_meta = unknown.type_meta.unwrap();
    assert_eq!((type_meta.api_version.as_deref(), type_meta.kind.as_deref()), (Some("apps/v1"), Some("Deployment")));
    let deployment = apps::Deployment::decode(unknown.raw.unwrap().as_slice()).unwrap();
    let meta = deployment.metadata.unwrap();
    assert_eq!(meta.name.as_deref(), Some("web"));
    assert_eq!(meta.creation_timestamp.unwrap().seconds, Some(1_704_164_645));
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    let container = &spec.template.unwrap().spec.unwrap().containers[0];
    let probe = container.readiness_probe.clone().unwrap();
    assert_eq!(probe.period_seconds, Some(2));
    let port = probe.handler.unwrap().http_get.unwrap().port.unwrap();
    assert_eq!((port.r#type, port.str_val.as_deref()), (Some(1), Some("http")));
}

#[test]
fn kinds_without_protobuf_are_refused() {
    let table = json!({"apiVersion": "meta.k8s.io/v1", "kind": "Table", "rows": []});
    assert!(encode_object(&table).unwrap_err().is_unsupported_kind());
    let custom = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab"});
    assert!(encode_object(&custom).unwrap_err().is_unsupported_kind());
    assert!(encode_object(&json!({"kind": "Pod"})).unwrap_err().is_unsupported_kind());
    let body = envelope("stable.example.com/v1", "CronTab", &core::ConfigMap::default());
    assert!(decode_object(&body).unwrap_err().is_unsupported_kind());
}

#[test]
fn bad_json_values_name_the_field() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": 5}]}});
    assert_eq!(
        encode_object(&obj).unwrap_err(),
        ProtoError::InvalidValue { path: "Pod.spec.containers[0].name".into(), message: "expected a string".into() }
    );
    let obj = json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}});
    assert!(matches!(encode_object(&obj), Err(ProtoError::InvalidValue { path, .. }) if path == "Secret.data.k"));
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1u64 << 33}});
    assert!(encode_object(&obj).is_err());
}

#[test]
fn malformed_bodies_are_errors() {
    assert!(!super::is_protobuf(b"{\"kind\":\"Pod\"}"));
    assert_eq!(decode_object(b"{\"kind\":\"Pod\"}"), Err(ProtoError::MissingMagic));
    let untyped = wrap_raw("", "", vec![]);
    assert!(super::is_protobuf(&untyped));
    assert!(matches!(decode_object(&untyped), Err(ProtoError::Malformed { path, .. }) if path == "envelope"));
    let mut body = envelope("apps/v1", "Deployment", &kubectl_deployment(1));
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: s("v1"), kind: s("Pod") }),
        raw: Some(vec![]),
        content_encoding: s("gzip"),
        content_type: s(""),
    };
    assert_eq!(
        decode_object(&[MAGIC, &unknown.encode_to_vec()].concat()),
        Err(ProtoError::UnsupportedEncoding("gzip".into()))
    );
    let bad = apps::Deployment {
        spec: Some(apps::DeploymentSpec {
            template: Some(core::PodTemplateSpec { metadata: None, spec: None }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut raw = bad.encode_to_vec();
    // Append spec (field 2) holding `replicas` (field 1) as a length-delimited value.
    raw.extend([0x12, 0x03, 0x0a, 0x01, b'x']);
    let err = decode_object(&wrap_raw("apps/v1", "Deployment", raw)).unwrap_err();
    assert!(err.to_string().contains("Deployment.spec.replicas"), "{err}");

    // Every truncation of a valid body is handled without panicking.
    for len in 0..body.len() {
        let _ = decode_object(&body[..len]);
    }
    // As is every single-byte corruption.
    for i in MAGIC.len()..body.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            body[i] ^= flip;
            let _ = decode_object(&body);
            body[i] ^= flip;
        }
    }
}

/// An envelope around already-encoded message bytes.
fn wrap_raw(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: s(api_version), kind: s(kind) }),
        raw: Some(raw),
        content_encoding: None,
        content_type: None,
    };
    [MAGIC, &unknown.encode_to_vec()].concat()
}

#[test]
fn random_bytes_never_panic() {
    // xorshift: deterministic noise without a dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let kinds = [
        ("apps/v1", "Deployment"),
        ("v1", "Pod"),
        ("v1", "Secret"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ];
    for round in 0..2000 {
        let len = (next() % 200) as usize;
        let raw: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let (api_version, kind) = kinds[round % kinds.len()];
        let _ = decode_object(&wrap_raw(api_version, kind, raw.clone()));
        let _ = decode_object(&[MAGIC, &raw].concat());
    }
}

#[test]
fn deep_nesting_is_refused() {
    // JSONSchemaProps.not nested far past the limit.
    let props = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaProps";
    let desc = super::descriptor::message(props).unwrap();
    let not_tag = desc.fields.iter().find(|f| f.name == "not").unwrap().tag;
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..200 {
        let mut w = super::wire::Writer::new();
        w.bytes_field(not_tag, &inner);
        inner = w.into_bytes();
    }
    let decoder = super::decode::Decoder { plan: &super::codec().plan };
    assert_eq!(decoder.message(props, &inner, 0), Err(ProtoError::TooDeep(super::decode::MAX_DEPTH)));
}
