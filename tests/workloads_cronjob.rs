//! End-to-end: the CronJob controller. One test waits for a real `* * * * *` activation
//! (up to a minute and a bit); the others use `@every` schedules to see concurrency
//! policies and suspension within seconds.

mod common;

use std::time::{Duration, Instant};

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::Value;

fn jobs_of(s: &TestServer, cron_job: &str) -> Vec<Value> {
    let list = s.get_json(&["jobs"]);
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|j| j["metadata"]["ownerReferences"][0]["name"] == cron_job)
        .collect()
}

fn cron_job_yaml(name: &str, schedule: &str, policy: &str, extra: &str, annotations: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: "{schedule}"
  concurrencyPolicy: {policy}
{extra}
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
{annotations}
        spec:
          restartPolicy: Never
          containers:
          - name: main
            image: busybox
"#
    )
}

fn wait_for_jobs(s: &TestServer, cron_job: &str, count: usize, until: Instant) -> Vec<Value> {
    loop {
        let jobs = jobs_of(s, cron_job);
        if jobs.len() >= count {
            return jobs;
        }
        assert!(Instant::now() < until, "{cron_job}: {} of {count} Jobs in time", jobs.len());
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Real minute schedules: two activations within about two minutes. `hello` (made by
/// `kubectl create cronjob`, Allow) runs both; `forbid` skips the second while the
/// first runs; `replace` deletes the first for the second.
#[test]
fn cronjobs_fire_every_minute_with_concurrency_policies() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    s.ok(&["create", "cronjob", "hello", "--image=busybox", "--schedule=* * * * *", "--", "echo", "hi"]);
    // Jobs that run for ten minutes: activations overlap.
    let long = "            k3rs.test/exit-code: \"0\"\n            k3rs.test/run-ms: \"600000\"";
    s.ok_stdin(&["apply", "-f", "-"], &cron_job_yaml("forbid", "* * * * *", "Forbid", "", long));
    s.ok_stdin(&["apply", "-f", "-"], &cron_job_yaml("replace", "* * * * *", "Replace", "", long));

    let first = wait_for_jobs(&s, "hello", 1, Instant::now() + Duration::from_secs(75));
    let job = &first[0];
    let cj = s.get_json(&["cronjob", "hello"]);
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "CronJob");
    assert_eq!(owner["uid"], cj["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    let scheduled = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"].as_str().unwrap();
    let at: jiff::Timestamp = scheduled.parse().unwrap();
    assert_eq!(at.as_second() % 60, 0, "activations are on the minute: {scheduled}");
    assert_eq!(job["metadata"]["name"], format!("hello-{}", at.as_second() / 60));
    assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["command"], serde_json::json!(["echo", "hi"]));
    assert!(eventually(Duration::from_secs(10), || {
        let cj = s.get_json(&["cronjob", "hello"]);
        cj["status"]["lastScheduleTime"].is_string()
            && cj["status"]["active"]
                .as_array()
                .is_some_and(|a| a.len() == 1 && a[0]["name"] == job["metadata"]["name"])
    }));
    let out = s.ok(&["get", "cronjob", "hello"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    // NAME SCHEDULE(5 fields) TIMEZONE SUSPEND ACTIVE LAST-SCHEDULE AGE
    assert_eq!((row[0], row[7], row[8]), ("hello", "False", "1"), "{out}");

    // The next minute.
    let hello = wait_for_jobs(&s, "hello", 2, Instant::now() + Duration::from_secs(75));
    assert_eq!(hello.len(), 2);
    assert!(eventually(Duration::from_secs(15), || {
        s.get_json(&["cronjob", "replace"])["status"]["lastScheduleTime"]
            == s.get_json(&["cronjob", "hello"])["status"]["lastScheduleTime"]
    }));
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=hello"]);
    assert!(events.contains("SuccessfulCreate") && events.contains("Created job hello-"), "{events}");

    let forbid = jobs_of(&s, "forbid");
    assert_eq!(forbid.len(), 1, "Forbid starts nothing while a Job runs: {forbid:#?}");
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=forbid"]);
    assert!(events.contains("JobAlreadyActive"), "{events}");
    assert!(
        events.contains("Not starting job because prior execution is running and concurrency policy is Forbid"),
        "{events}"
    );

    assert!(eventually(Duration::from_secs(15), || jobs_of(&s, "replace").len() == 1));
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=replace"]);
    assert!(events.contains("SuccessfulDelete") && events.contains("Deleted job replace-"), "{events}");
    let cj = s.get_json(&["cronjob", "replace"]);
    let active = cj["status"]["active"].as_array().cloned().unwrap_or_default();
    assert_eq!(active.len(), 1, "{}", cj["status"]);
    assert_eq!(active[0]["name"], jobs_of(&s, "replace")[0]["metadata"]["name"]);
}

#[test]
fn suspended_cronjobs_create_nothing_and_finished_jobs_are_seen() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    let quick = "            k3rs.test/exit-code: \"0\"\n            k3rs.test/run-ms: \"100\"";
    s.ok_stdin(&["apply", "-f", "-"], &cron_job_yaml("paused", "@every 2s", "Allow", "  suspend: true", quick));
    s.ok_stdin(&["apply", "-f", "-"], &cron_job_yaml("quick", "@every 2s", "Allow", "", quick));
    assert!(
        eventually(Duration::from_secs(30), || {
            let cj = s.get_json(&["cronjob", "quick"]);
            cj["status"]["lastSuccessfulTime"].is_string()
        }),
        "{}\n{}\n{}",
        s.get_json(&["cronjob", "quick"]),
        s.ok(&["get", "jobs,pods,events", "-o", "wide"]),
        s.log()
    );
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=quick"]);
    assert!(events.contains("SawCompletedJob") && events.contains("condition: Complete"), "{events}");
    assert!(jobs_of(&s, "paused").is_empty());
    assert!(s.get_json(&["cronjob", "paused"])["status"]["lastScheduleTime"].is_null());
}
