use super::*;

fn svc(spec: Value) -> Value {
    let mut v = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec});
    ServiceStrategy.normalize(&mut v).unwrap();
    ServiceStrategy.default(&mut v);
    v
}

fn messages(errs: Vec<FieldError>) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn ctx() -> Context {
    Context { now: "2024-01-01T00:10:00Z".parse().unwrap() }
}

#[test]
fn defaults() {
    let v = svc(
        json!({"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https", "name": "https"}]}),
    );
    let spec = &v["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["ports"][1]["targetPort"], "https");
    assert!(spec.get("ipFamilyPolicy").is_none(), "families wait for the cluster IP");

    let np = svc(json!({"type": "NodePort", "clusterIP": "10.43.0.10", "ports": [{"port": 80}]}));
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(np["spec"]["clusterIPs"], json!(["10.43.0.10"]));
    assert_eq!(np["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(np["spec"]["ipFamilies"], json!(["IPv4"]));

    let lb = svc(json!({"type": "LoadBalancer", "ports": [{"port": 80}], "sessionAffinity": "ClientIP"}));
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(lb["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 10800);

    let headless = svc(json!({"clusterIP": "None", "ports": []}));
    assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
}

#[test]
fn create_resets_status() {
    let mut v = svc(json!({"ports": [{"port": 80}]}));
    v["status"] = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}});
    ServiceStrategy.prepare_for_create(&mut v);
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

#[test]
fn port_validation() {
    let v = svc(json!({"clusterIP": "10.43.0.10", "ports": [
        {"port": 0},
        {"port": 80, "name": "http", "protocol": "ICMP"},
        {"port": 80, "name": "http"}
    ]}));
    assert_eq!(
        messages(ServiceStrategy.validate_create(&v)),
        vec![
            "spec.ports[0].name: Required value",
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.ports[2].name: Duplicate value: \"http\"",
        ]
    );
    let dup = svc(json!({"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]}));
    assert_eq!(
        messages(ServiceStrategy.validate_create(&dup)),
        vec!["spec.ports[1]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}"]
    );
    let none = svc(json!({"selector": {"app": "x"}}));
    assert_eq!(messages(ServiceStrategy.validate_create(&none)), vec!["spec.ports: Required value"]);
    assert!(ServiceStrategy.validate_create(&svc(json!({"clusterIP": "None"}))).is_empty());
}

#[test]
fn type_rules() {
    let bad_type = svc(json!({"type": "Magic", "ports": [{"port": 80}]}));
    assert!(messages(ServiceStrategy.validate_create(&bad_type)).contains(
        &"spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_string()
    ));
    let node_port_on_cluster_ip = svc(json!({"ports": [{"port": 80, "nodePort": 30080}]}));
    assert_eq!(
        messages(ServiceStrategy.validate_create(&node_port_on_cluster_ip)),
        vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
    let ext = svc(json!({"type": "ExternalName"}));
    assert_eq!(messages(ServiceStrategy.validate_create(&ext)), vec!["spec.externalName: Required value"]);
    assert!(
        ServiceStrategy
            .validate_create(&svc(json!({"type": "ExternalName", "externalName": "db.example.com."})))
            .is_empty()
    );
    let etp = svc(json!({"ports": [{"port": 80}], "externalTrafficPolicy": "Local"}));
    assert_eq!(
        messages(ServiceStrategy.validate_create(&etp)),
        vec![
            "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"
        ]
    );
    let headless_np = svc(json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}));
    assert!(messages(ServiceStrategy.validate_create(&headless_np)).contains(
        &"spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services".to_string()
    ));
    let bad_ip = svc(json!({"clusterIP": "10.0.0.300", "ports": [{"port": 80}]}));
    assert_eq!(
        messages(ServiceStrategy.validate_create(&bad_ip)),
        vec![
            "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        ]
    );
    let loopback = svc(json!({"ports": [{"port": 80}], "externalIPs": ["127.0.0.1"]}));
    assert!(messages(ServiceStrategy.validate_create(&loopback))
        .contains(&"spec.externalIPs[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)".to_string()));
}

#[test]
fn cluster_ip_is_immutable_and_kept() {
    let old = svc(json!({"clusterIP": "10.43.0.10", "ports": [{"port": 80}]}));
    let mut changed = old.clone();
    changed["spec"]["clusterIP"] = json!("10.43.0.11");
    ServiceStrategy.prepare_for_update(&mut changed, &old);
    assert_eq!(
        messages(ServiceStrategy.validate_update(&changed, &old)),
        vec!["spec.clusterIPs[0]: Invalid value: [\"10.43.0.11\"]: may not change once set"]
    );
    // A replace that leaves out the allocated values keeps them.
    let mut omitted = svc(json!({"ports": [{"port": 80}]}));
    ServiceStrategy.prepare_for_update(&mut omitted, &old);
    assert_eq!(omitted["spec"]["clusterIP"], "10.43.0.10");
    assert_eq!(omitted["spec"]["clusterIPs"], json!(["10.43.0.10"]));
    assert!(ServiceStrategy.validate_update(&omitted, &old).is_empty());
}

#[test]
fn type_change_drops_node_ports_and_policy() {
    let old = svc(json!({"type": "NodePort", "clusterIP": "10.43.0.10", "ports": [{"port": 80, "nodePort": 30080}]}));
    let mut new = old.clone();
    new["spec"]["type"] = json!("ClusterIP");
    ServiceStrategy.prepare_for_update(&mut new, &old);
    assert!(new["spec"]["ports"][0].get("nodePort").is_none());
    assert!(new["spec"].get("externalTrafficPolicy").is_none());
    assert!(ServiceStrategy.validate_update(&new, &old).is_empty());
    // Node ports survive a replace without them.
    let mut replace = svc(json!({"type": "NodePort", "ports": [{"port": 80}]}));
    ServiceStrategy.prepare_for_update(&mut replace, &old);
    assert_eq!(replace["spec"]["ports"][0]["nodePort"], 30080);
}

#[test]
fn printing() {
    let mut np = svc(json!({"type": "NodePort", "clusterIP": "10.43.0.10", "selector": {"app": "web"},
        "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP", "name": "dns", "nodePort": 30053}]}));
    np["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    assert_eq!(
        ServiceStrategy.row(&np, &ctx()),
        vec![
            json!("NodePort"),
            json!("10.43.0.10"),
            json!("<none>"),
            json!("80:30080/TCP,53:30053/UDP"),
            json!("10m"),
            json!("app=web")
        ]
    );
    let mut lb = svc(json!({"type": "LoadBalancer", "clusterIP": "10.43.0.11", "ports": [{"port": 443}]}));
    assert_eq!(ServiceStrategy.row(&lb, &ctx())[2], json!("<pending>"));
    lb["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}});
    assert_eq!(ServiceStrategy.row(&lb, &ctx())[2], json!("192.0.2.7"));
    let ext = svc(json!({"type": "ExternalName", "externalName": "db.example.com"}));
    let cells = ServiceStrategy.row(&ext, &ctx());
    assert_eq!(
        (&cells[1], &cells[2], &cells[3], &cells[5]),
        (&json!("<none>"), &json!("db.example.com"), &json!("<none>"), &json!("<none>"))
    );
    assert_eq!(ServiceStrategy.columns().iter().filter(|c| c.priority == 1).count(), 1);
}

#[test]
fn field_labels() {
    let v = svc(json!({"type": "NodePort", "clusterIP": "10.43.0.10", "ports": [{"port": 80}]}));
    assert_eq!(ServiceStrategy.field_label(&v, "spec.type").as_deref(), Some("NodePort"));
    assert_eq!(ServiceStrategy.field_label(&v, "spec.clusterIP").as_deref(), Some("10.43.0.10"));
    assert_eq!(ServiceStrategy.field_label(&v, "spec.selector"), None);
}
