//! Two schedulers against one API server (as two servers' schedulers would be): the
//! `kube-scheduler` Lease in kube-system decides which one acts; the standby binds nothing
//! until the holder stops, then takes over.

mod common;

use std::time::Duration;

use common::fake_kubelet::{FakeKubelet, client};
use common::{TestServer, eventually};
use k3rs_control_runtime::LeaseConfig;
use k3rs_scheduler::{SchedulerConfig, run_leader_elected};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn holder(s: &TestServer) -> String {
    let out =
        s.kubectl(&["get", "lease", "-n", "kube-system", "kube-scheduler", "-o", "jsonpath={.spec.holderIdentity}"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn create_pod(s: &TestServer, name: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}});
    s.ok_stdin(&["create", "-f", "-"], &pod.to_string());
}

fn bound(s: &TestServer, pod: &str) -> bool {
    let out = s.kubectl(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]);
    out.status.success() && !out.stdout.is_empty()
}

/// Which scheduler instance recorded the Scheduled event of each pod.
fn schedulers_of(s: &TestServer) -> Vec<(String, String)> {
    let events = s.get_json(&["events.events.k8s.io", "--field-selector", "reason=Scheduled"]);
    let mut out: Vec<(String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let pod = e.pointer("/regarding/name").and_then(Value::as_str).unwrap_or("").to_string();
            (pod, e["reportingInstance"].as_str().unwrap_or("").to_string())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn one_scheduler_acts_and_the_standby_takes_over() {
    let s = TestServer::start_with(&["--disable-scheduler"]);
    let kubelet = FakeKubelet::start(&s);
    kubelet.add_node("n1", "8", "8Gi", json!({}), json!([]));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let c = client(&rt, &s);
    let lease = |id: &str| LeaseConfig {
        lease_duration: Duration::from_secs(3),
        retry_period: Duration::from_millis(300),
        ..LeaseConfig::new("kube-scheduler", id)
    };
    // Without a scheduler nothing is bound.
    create_pod(&s, "early");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!bound(&s, "early"));

    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let a = rt.spawn(run_leader_elected(c.clone(), SchedulerConfig::new("sched-a"), Some(lease("sched-a")), async {
        let _ = stopped_a.await;
    }));
    assert!(eventually(WAIT, || holder(&s) == "sched-a"), "holder: {}", holder(&s));
    let b = rt.spawn(run_leader_elected(
        c.clone(),
        SchedulerConfig::new("sched-b"),
        Some(lease("sched-b")),
        std::future::pending::<()>(),
    ));
    for p in ["p1", "p2", "p3"] {
        create_pod(&s, p);
    }
    for p in ["early", "p1", "p2", "p3"] {
        assert!(eventually(WAIT, || bound(&s, p)), "{p} not bound");
    }
    // The standby has not taken the Lease, and every binding is the holder's.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holder(&s), "sched-a");
    let by = schedulers_of(&s);
    assert_eq!(by.len(), 4, "{by:?}");
    assert!(by.iter().all(|(_, who)| who == "sched-a"), "{by:?}");

    // The holder stops (releasing the Lease); the standby takes over.
    stop_a.send(()).unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), a).await }).expect("a stops").unwrap();
    assert!(eventually(WAIT, || holder(&s) == "sched-b"), "holder: {}", holder(&s));
    create_pod(&s, "p4");
    assert!(eventually(WAIT, || bound(&s, "p4")), "p4 not bound after the takeover");
    let by = schedulers_of(&s);
    assert!(by.contains(&("p4".to_string(), "sched-b".to_string())), "{by:?}");
    assert_eq!(by.iter().filter(|(_, who)| who == "sched-b").count(), 1, "{by:?}");
    b.abort();
}
