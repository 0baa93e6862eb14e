//! End-to-end: Endpoints and EndpointSlices follow the pods a Service selects,
//! with pod status driven by the test like a kubelet.

mod cluster_support;
mod common;

use cluster_support::{create_pod, get_opt, set_pod_status, wait_until};
use common::TestServer;
use serde_json::Value;

const WEB_SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {team: blue}
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: http
"#;

/// `ip:port` of the ready and of the not-ready addresses of an Endpoints object.
fn endpoint_addresses(ep: &Value) -> (Vec<String>, Vec<String>) {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for subset in ep["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<i64> =
            subset["ports"].as_array().into_iter().flatten().filter_map(|p| p["port"].as_i64()).collect();
        for (field, out) in [("addresses", &mut ready), ("notReadyAddresses", &mut not_ready)] {
            for a in subset[field].as_array().into_iter().flatten() {
                for p in &ports {
                    out.push(format!("{}:{p}", a["ip"].as_str().unwrap_or_default()));
                }
            }
        }
    }
    ready.sort();
    not_ready.sort();
    (ready, not_ready)
}

/// (address, port, ready) of every endpoint in the Service's slices.
fn slice_endpoints(s: &TestServer, svc: &str) -> Vec<(String, i64, bool)> {
    let list = get_opt(s, &["endpointslices", "-l", &format!("kubernetes.io/service-name={svc}")]).unwrap_or_default();
    let mut out = Vec::new();
    for slice in list["items"].as_array().into_iter().flatten() {
        let port = slice["ports"][0]["port"].as_i64().unwrap_or(0);
        for ep in slice["endpoints"].as_array().into_iter().flatten() {
            let ready = ep["conditions"]["ready"].as_bool().unwrap_or(false);
            out.push((ep["addresses"][0].as_str().unwrap_or_default().to_string(), port, ready));
        }
    }
    out.sort();
    out
}

#[test]
fn endpoints_and_slices_follow_readiness_and_named_ports() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], WEB_SERVICE);
    create_pod(&s, "default", "web-a", &[("app", "web")], &[("http", 8080)]);
    create_pod(&s, "default", "web-b", &[("app", "web")], &[("http", 9090)]);
    create_pod(&s, "default", "other", &[("app", "other")], &[("http", 7070)]);

    // No addresses yet: the Endpoints object exists but is empty, and a placeholder slice exists.
    wait_until(&s, "the Endpoints object exists", || get_opt(&s, &["endpoints", "web"]).is_some());
    let ep = get_opt(&s, &["endpoints", "web"]).unwrap();
    assert_eq!(endpoint_addresses(&ep), (vec![], vec![]));
    assert_eq!(ep["metadata"]["labels"]["team"], "blue");
    wait_until(&s, "a placeholder slice exists", || {
        get_opt(&s, &["endpointslices", "-l", "kubernetes.io/service-name=web"])
            .is_some_and(|l| l["items"].as_array().is_some_and(|i| i.len() == 1))
    });

    // Addresses, not ready yet: listed as not ready.
    set_pod_status(&s, "default", "web-a", "10.42.0.5", false);
    set_pod_status(&s, "default", "web-b", "10.42.0.6", false);
    set_pod_status(&s, "default", "other", "10.42.0.7", true);
    wait_until(&s, "both pods are not-ready addresses", || {
        get_opt(&s, &["endpoints", "web"]).map(|e| endpoint_addresses(&e))
            == Some((vec![], vec!["10.42.0.5:8080".into(), "10.42.0.6:9090".into()]))
    });
    wait_until(&s, "the slices list both pods as not ready", || {
        slice_endpoints(&s, "web") == [("10.42.0.5".into(), 8080, false), ("10.42.0.6".into(), 9090, false)]
    });

    // Ready: the pod becomes an address, each with its own resolved port.
    set_pod_status(&s, "default", "web-a", "10.42.0.5", true);
    wait_until(&s, "web-a is a ready address", || {
        get_opt(&s, &["endpoints", "web"]).map(|e| endpoint_addresses(&e))
            == Some((vec!["10.42.0.5:8080".into()], vec!["10.42.0.6:9090".into()]))
    });
    wait_until(&s, "web-a's slice endpoint is ready", || {
        slice_endpoints(&s, "web") == [("10.42.0.5".into(), 8080, true), ("10.42.0.6".into(), 9090, false)]
    });
    let out = s.ok(&["get", "endpoints", "web"]);
    assert!(out.contains("10.42.0.5:8080"), "{out}");
    assert!(!out.contains("10.42.0.6"), "kubectl shows ready addresses only:\n{out}");

    // The slices are the controller's, owned by the Service.
    let slices = get_opt(&s, &["endpointslices", "-l", "kubernetes.io/service-name=web"]).unwrap();
    let svc_uid = get_opt(&s, &["service", "web"]).unwrap()["metadata"]["uid"].clone();
    for slice in slices["items"].as_array().unwrap() {
        assert_eq!(
            slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io"
        );
        assert_eq!(slice["metadata"]["labels"]["team"], "blue");
        assert_eq!(slice["metadata"]["ownerReferences"][0]["uid"], svc_uid);
        assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
        assert_eq!(slice["addressType"], "IPv4");
    }

    // Not ready again: back to notReadyAddresses.
    set_pod_status(&s, "default", "web-a", "10.42.0.5", false);
    wait_until(&s, "web-a is not ready again", || {
        get_opt(&s, &["endpoints", "web"]).is_some_and(|e| endpoint_addresses(&e).0.is_empty())
    });

    // Relabelled away from the Service: gone from its endpoints.
    s.ok(&["label", "pod", "web-b", "app=elsewhere", "--overwrite"]);
    wait_until(&s, "web-b left the Service", || {
        get_opt(&s, &["endpoints", "web"]).map(|e| endpoint_addresses(&e))
            == Some((vec![], vec!["10.42.0.5:8080".into()]))
    });
    wait_until(&s, "web-b left the slices", || slice_endpoints(&s, "web") == [("10.42.0.5".into(), 8080, false)]);

    // Deleting the Service removes its Endpoints, and the garbage collector its slices.
    s.ok(&["delete", "service", "web"]);
    wait_until(&s, "the Endpoints are gone", || get_opt(&s, &["endpoints", "web"]).is_none());
    // (kubectl prints nothing for an empty list with --ignore-not-found.)
    wait_until(&s, "the slices are gone", || {
        get_opt(&s, &["endpointslices", "-l", "kubernetes.io/service-name=web"])
            .is_none_or(|l| l["items"].as_array().is_none_or(Vec::is_empty))
    });
}

#[test]
fn publish_not_ready_addresses_and_selectorless_services() {
    let s = TestServer::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Service
metadata: {name: peers}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: db}
  ports: [{name: peer, port: 7000}]
---
apiVersion: v1
kind: Service
metadata: {name: external}
spec:
  ports: [{port: 5432}]
"#,
    );
    create_pod(&s, "default", "db-0", &[("app", "db")], &[]);
    set_pod_status(&s, "default", "db-0", "10.42.1.2", false);
    wait_until(&s, "the not-ready pod is published as ready", || {
        get_opt(&s, &["endpoints", "peers"]).map(|e| endpoint_addresses(&e))
            == Some((vec!["10.42.1.2:7000".into()], vec![]))
    });
    let ep = get_opt(&s, &["endpoints", "peers"]).unwrap();
    assert_eq!(ep["metadata"]["labels"]["service.kubernetes.io/headless"], "");
    wait_until(&s, "the slice endpoint is ready", || {
        slice_endpoints(&s, "peers") == [("10.42.1.2".into(), 7000, true)]
    });

    // A Service without a selector keeps the Endpoints its user writes.
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Endpoints
metadata: {name: external}
subsets: [{addresses: [{ip: 192.0.2.10}], ports: [{port: 5432}]}]
"#,
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ep = get_opt(&s, &["endpoints", "external"]).expect("user endpoints kept");
    assert_eq!(endpoint_addresses(&ep).0, ["192.0.2.10:5432"]);
    assert!(slice_endpoints(&s, "external").is_empty(), "no managed slices for a selector-less Service");
    // The API server's own Service is left alone.
    let k = get_opt(&s, &["endpoints", "kubernetes"]).expect("kubernetes endpoints");
    assert_eq!(endpoint_addresses(&k).0.len(), 1);
}
