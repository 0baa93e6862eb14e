//! Two controller managers against one API server (as two servers' would be): the
//! `kube-controller-manager` Lease decides which one acts; the standby does nothing
//! until the holder stops, then takes over.

mod common;

use std::time::Duration;

use common::fake_kubelet::{FakeKubelet, client};
use common::{TestServer, eventually};
use k3rs_control_runtime::LeaseConfig;
use k3rs_controllers::ControllerConfig;
use k3rs_controllers::manager;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn holder(s: &TestServer) -> String {
    let out = s.kubectl(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-controller-manager",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The reporting instances of the Deployment controller's events.
fn scaling_reporters(s: &TestServer) -> Vec<String> {
    let events = s.get_json(&["events.events.k8s.io", "--field-selector", "reason=ScalingReplicaSet"]);
    let mut out: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reportingInstance"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn replicas(s: &TestServer) -> Value {
    s.get_json(&["deployment", "web"])["status"]["replicas"].clone()
}

#[test]
fn one_controller_manager_acts_and_the_standby_takes_over() {
    let s = TestServer::start_with(&["--disable-controller-manager"]);
    let kubelet = FakeKubelet::start_with_nodes(&s, &["n1"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let c = client(&rt, &s);
    let lease = |id: &str| LeaseConfig {
        lease_duration: Duration::from_secs(3),
        retry_period: Duration::from_millis(300),
        ..LeaseConfig::new(manager::LEASE_NAME, id)
    };
    // Without a controller manager a Deployment stays as it is.
    s.ok(&["create", "deployment", "web", "--image=nginx", "--replicas=2"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(s.get_json(&["rs"])["items"].as_array().unwrap().is_empty());

    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let a = rt.spawn(manager::run(c.clone(), ControllerConfig::new("cm-a"), lease("cm-a"), async {
        let _ = stopped_a.await;
    }));
    assert!(eventually(WAIT, || holder(&s) == "cm-a"), "holder: {}", holder(&s));
    let b =
        rt.spawn(manager::run(c.clone(), ControllerConfig::new("cm-b"), lease("cm-b"), std::future::pending::<()>()));
    assert!(eventually(WAIT, || replicas(&s) == 2));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holder(&s), "cm-a", "the standby does not take the Lease from a live holder");
    assert_eq!(scaling_reporters(&s), vec!["cm-a"]);

    // The holder stops (and releases the Lease): the standby acts from now on.
    stop_a.send(()).unwrap();
    rt.block_on(a).unwrap();
    assert!(eventually(WAIT, || holder(&s) == "cm-b"), "holder: {}", holder(&s));
    s.ok(&["scale", "deployment", "web", "--replicas=3"]);
    assert!(eventually(WAIT, || replicas(&s) == 3));
    assert_eq!(scaling_reporters(&s), vec!["cm-a", "cm-b"]);
    b.abort();
    drop(kubelet);
}
