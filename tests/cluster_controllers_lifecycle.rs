//! End-to-end: the `default` ServiceAccount of every namespace, and finished
//! Jobs removed after their ttlSecondsAfterFinished.

mod cluster_support;
mod common;

use cluster_support::{get_opt, wait_until};
use common::TestServer;
use serde_json::json;

#[test]
fn every_namespace_gets_a_default_service_account() {
    let s = TestServer::start();
    for ns in ["default", "kube-system", "kube-public"] {
        wait_until(&s, &format!("{ns} has its default ServiceAccount"), || {
            get_opt(&s, &["serviceaccount", "default", "-n", ns]).is_some()
        });
    }
    s.ok(&["create", "namespace", "team-a"]);
    wait_until(&s, "the new namespace has its default ServiceAccount", || {
        get_opt(&s, &["serviceaccount", "default", "-n", "team-a"]).is_some()
    });
    let out = s.ok(&["get", "serviceaccounts", "-n", "team-a"]);
    assert!(out.lines().any(|l| l.starts_with("default ")), "{out}");
    // Deleted, it comes back.
    let before = get_opt(&s, &["serviceaccount", "default", "-n", "team-a"]).unwrap()["metadata"]["uid"].clone();
    s.ok(&["delete", "serviceaccount", "default", "-n", "team-a"]);
    wait_until(&s, "the ServiceAccount is recreated", || {
        get_opt(&s, &["serviceaccount", "default", "-n", "team-a"]).is_some_and(|sa| sa["metadata"]["uid"] != before)
    });
}

#[test]
fn finished_jobs_go_after_their_ttl() {
    let s = TestServer::start();
    // Suspended, so no Job controller runs it: the test finishes it by hand.
    let created = std::time::Instant::now();
    for (name, ttl) in [("short", 4), ("long", 3600)] {
        let job = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "suspend": true,
                "ttlSecondsAfterFinished": ttl,
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
            },
        });
        s.ok_stdin(&["create", "-f", "-"], &job.to_string());
    }
    s.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "unfinished"},
            "spec": {"suspend": true, "ttlSecondsAfterFinished": 0,
              "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}"#,
    );
    for name in ["short", "long"] {
        // Finished as it was created: the server's clock, not the test's.
        let job = get_opt(&s, &["job", name]).unwrap();
        let finished_at = job["metadata"]["creationTimestamp"].as_str().unwrap().to_string();
        let patch = json!({"status": {
            "startTime": finished_at, "completionTime": finished_at, "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": finished_at},
                {"type": "Complete", "status": "True", "lastTransitionTime": finished_at},
            ],
        }});
        s.ok(&["patch", "job", name, "--subresource=status", "--type=merge", "-p", &patch.to_string()]);
    }
    wait_until(&s, "the short-lived Job is deleted", || get_opt(&s, &["job", "short"]).is_none());
    // Not before its TTL (the finish time has whole seconds: one second of slack).
    assert!(created.elapsed() >= std::time::Duration::from_secs(3), "deleted after {:?}", created.elapsed());
    assert!(get_opt(&s, &["job", "long"]).is_some(), "a Job with a long TTL stays");
    assert!(get_opt(&s, &["job", "unfinished"]).is_some(), "an unfinished Job stays");
}
