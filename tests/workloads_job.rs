//! End-to-end: the Job controller with the real kubectl. Pods "run" on the fake
//! kubelet, which ends them with the exit code their template's annotations ask for.

mod common;

use std::time::{Duration, Instant};

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::Value;

fn job_yaml(name: &str, spec: &str, annotations: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    metadata:
      annotations:
{annotations}
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "true"]
"#
    )
}

fn condition(job: &Value, type_: &str) -> Option<Value> {
    job["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_).cloned()
}

fn pods_of(s: &TestServer, job: &str) -> Vec<Value> {
    s.get_json(&["pods", "-l", &format!("batch.kubernetes.io/job-name={job}")])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn wait_condition(s: &TestServer, job: &str, type_: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let j = s.get_json(&["job", job]);
        if condition(&j, type_).is_some_and(|c| c["status"] == "True") {
            return j;
        }
        assert!(Instant::now() < deadline, "job {job} never got {type_}: {}", j["status"]);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn job_runs_to_completion_with_parallelism() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "pi",
            "  completions: 3\n  parallelism: 2",
            "        k3rs.test/exit-code: \"0\"\n        k3rs.test/run-ms: \"300\"",
        ),
    );
    let out = s.ok(&["wait", "--for=condition=complete", "job/pi", "--timeout=60s"]);
    assert!(out.contains("condition met"), "{out}");
    let job = s.get_json(&["job", "pi"]);
    let st = &job["status"];
    assert_eq!(st["succeeded"], 3);
    assert!(st["failed"].is_null());
    assert!(st["active"].is_null());
    assert_eq!(st["ready"], 0);
    assert_eq!(st["terminating"], 0);
    assert!(st["startTime"].is_string() && st["completionTime"].is_string());
    assert_eq!(st["uncountedTerminatedPods"], serde_json::json!({}));
    let met = condition(&job, "SuccessCriteriaMet").expect("SuccessCriteriaMet");
    assert_eq!(met["reason"], "CompletionsReached");
    let complete = condition(&job, "Complete").unwrap();
    assert_eq!(complete["reason"], "CompletionsReached");
    assert_eq!(complete["message"], "Reached expected number of succeeded pods");
    let pods = pods_of(&s, "pi");
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Succeeded");
        assert!(p["metadata"]["finalizers"].as_array().is_none_or(|f| f.is_empty()), "tracking finalizer left: {p}");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Job");
    }
    let out = s.ok(&["get", "job", "pi"]);
    assert!(out.lines().nth(1).is_some_and(|l| l.contains("Complete") && l.contains("3/3")), "{out}");
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=pi"]);
    assert!(events.contains("Completed") && events.contains("Job completed"), "{events}");
}

#[test]
fn backoff_limit_fails_the_job_after_backing_off() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "flaky",
            "  backoffLimit: 1",
            "        k3rs.test/exit-code: \"1\"\n        k3rs.test/run-ms: \"100\"",
        ),
    );
    let job = wait_condition(&s, "flaky", "Failed", Duration::from_secs(90));
    let failed = condition(&job, "Failed").unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(failed["message"], "Job has reached the specified backoff limit");
    let target = condition(&job, "FailureTarget").expect("FailureTarget");
    assert_eq!(target["reason"], "BackoffLimitExceeded");
    assert_eq!(job["status"]["failed"], 2);
    assert!(job["status"]["completionTime"].is_null());
    let mut pods = pods_of(&s, "flaky");
    assert_eq!(pods.len(), 2, "one pod and one retry");
    pods.sort_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string());
    let created = |p: &Value| p["metadata"]["creationTimestamp"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let gap = created(&pods[1]).duration_since(created(&pods[0]));
    assert!(gap.as_secs() >= 9, "the retry came after {gap:?}, not after the 10s back-off");
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=flaky"]);
    assert!(events.contains("BackoffLimitExceeded"), "{events}");
    let out = s.ok(&["get", "job", "flaky"]);
    assert!(out.lines().nth(1).is_some_and(|l| l.contains("Failed")), "{out}");
}

#[test]
fn indexed_job_gives_each_pod_an_index() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "idx",
            "  completions: 4\n  parallelism: 2\n  completionMode: Indexed",
            "        k3rs.test/exit-code: \"0\"\n        k3rs.test/run-ms: \"200\"",
        ),
    );
    let job = wait_condition(&s, "idx", "Complete", Duration::from_secs(60));
    assert_eq!(job["status"]["completedIndexes"], "0-3");
    assert_eq!(job["status"]["succeeded"], 4);
    let pods = pods_of(&s, "idx");
    let mut indexes: Vec<String> = pods
        .iter()
        .map(|p| p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str().unwrap().to_string())
        .collect();
    indexes.sort();
    assert_eq!(indexes, vec!["0", "1", "2", "3"]);
    for p in &pods {
        let ix = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str().unwrap();
        assert_eq!(p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"], ix);
        assert_eq!(p["spec"]["hostname"], format!("idx-{ix}"));
        assert!(p["metadata"]["name"].as_str().unwrap().starts_with(&format!("idx-{ix}-")));
        let env = &p["spec"]["containers"][0]["env"][0];
        assert_eq!(env["name"], "JOB_COMPLETION_INDEX");
        assert_eq!(
            env["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.labels['batch.kubernetes.io/job-completion-index']"
        );
    }
}

#[test]
fn pod_failure_policy_and_active_deadline() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "policy",
            "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes:\n        containerName: main\n        operator: In\n        values: [42]",
            "        k3rs.test/exit-code: \"42\"\n        k3rs.test/run-ms: \"100\"",
        ),
    );
    let job = wait_condition(&s, "policy", "Failed", Duration::from_secs(60));
    let failed = condition(&job, "Failed").unwrap();
    assert_eq!(failed["reason"], "PodFailurePolicy");
    let pod = &pods_of(&s, "policy")[0];
    let expected = format!(
        "Container main for pod default/{} failed with exit code 42 matching FailJob rule at index 0",
        pod["metadata"]["name"].as_str().unwrap()
    );
    assert_eq!(failed["message"], expected.as_str());

    // A Job running longer than activeDeadlineSeconds is stopped and fails.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "slow",
            "  activeDeadlineSeconds: 2",
            "        k3rs.test/exit-code: \"0\"\n        k3rs.test/run-ms: \"600000\"",
        ),
    );
    let job = wait_condition(&s, "slow", "Failed", Duration::from_secs(60));
    let failed = condition(&job, "Failed").unwrap();
    assert_eq!(failed["reason"], "DeadlineExceeded");
    assert_eq!(failed["message"], "Job was active longer than specified deadline");
    assert!(eventually(Duration::from_secs(20), || pods_of(&s, "slow").is_empty()), "the running pod is deleted");
}

#[test]
fn suspended_jobs_start_when_resumed() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("later", "  suspend: true", "        k3rs.test/exit-code: \"0\"\n        k3rs.test/run-ms: \"100\""),
    );
    let job = wait_condition(&s, "later", "Suspended", Duration::from_secs(30));
    assert!(job["status"]["startTime"].is_null());
    assert!(pods_of(&s, "later").is_empty());
    s.ok(&["patch", "job", "later", "--type=merge", "-p", r#"{"spec":{"suspend":false}}"#]);
    let job = wait_condition(&s, "later", "Complete", Duration::from_secs(30));
    let suspended = condition(&job, "Suspended").unwrap();
    assert_eq!((suspended["status"].as_str(), suspended["reason"].as_str()), (Some("False"), Some("JobResumed")));
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=later"]);
    assert!(events.contains("Suspended") && events.contains("Resumed"), "{events}");
}
