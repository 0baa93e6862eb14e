//! The pod worker's decisions, as upstream's `computePodActions`: given the pod spec and
//! what each container is doing, which containers to start (or restart) now and which
//! sidecars to stop because the pod is done. Pure: the worker carries the plan out
//! (back-off, image pulls, creating containers).
//!
//! - Init containers run one at a time, in order, each to completion; a failed one is
//!   restarted (restartPolicy Always/OnFailure) or fails the pod (Never).
//! - A sidecar (init container with `restartPolicy: Always`) is started in its turn and
//!   must be *started* (postStart done, startup probe passed) before the next init
//!   container; it is restarted whenever it exits, until the pod is done.
//! - Containers start once every init container is done, and restart per the pod's
//!   restartPolicy (Always: always; OnFailure: on a non-zero exit; Never: never).
//! - When no container runs or will run again (restartPolicy OnFailure/Never), the pod
//!   is done and its sidecars are stopped.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodSpec;

use super::record::{ContainerRecord, Kind, Position, spec_containers};

/// Why a container is (re)started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// Its first run.
    First,
    /// It exited at `finished_at` and the policy restarts it (subject to back-off).
    AfterExit { finished_at: Timestamp },
    /// The kubelet killed it (failed liveness/startup probe): restart without back-off.
    Immediate,
}

/// What to do now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Containers to start, in order.
    pub start: Vec<(String, Start)>,
    /// Running sidecars to stop because the pod is done.
    pub stop: Vec<String>,
}

fn restart_policy(spec: &PodSpec) -> &str {
    spec.restart_policy.as_deref().unwrap_or("Always")
}

fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

fn restart_kind(record: &ContainerRecord, finished_at: Timestamp) -> Start {
    if record.restart_now || record.spec_changed { Start::Immediate } else { Start::AfterExit { finished_at } }
}

/// Computes the plan. `records` has one entry per container name of the spec (missing
/// entries count as never started).
pub(crate) fn plan(spec: &PodSpec, records: &HashMap<String, ContainerRecord>) -> Plan {
    let mut out = Plan::default();
    let policy = restart_policy(spec);
    let record =
        |name: &str, kind: Kind| records.get(name).cloned().unwrap_or_else(|| ContainerRecord::new(name, kind));
    let containers = spec_containers(spec);

    // Once a regular container has run, the init phase is over (its records may be gone,
    // e.g. after the runtime lost them).
    let init_done_before = containers
        .iter()
        .filter(|(_, kind)| *kind == Kind::Regular)
        .any(|(c, _)| records.get(&c.name).is_some_and(ContainerRecord::ever_ran));

    if !init_done_before {
        for (c, kind) in containers.iter().filter(|(_, k)| k.is_init_list()) {
            let r = record(&c.name, *kind);
            match (kind, r.position()) {
                (_, Position::NotStarted) => {
                    out.start.push((c.name.clone(), Start::First));
                    return out;
                }
                (Kind::Sidecar, Position::Running { started }) => {
                    if !started {
                        return out;
                    }
                }
                (Kind::Sidecar, Position::Exited(t)) => {
                    out.start.push((c.name.clone(), restart_kind(&r, t.finished_at)));
                    return out;
                }
                (_, Position::Running { .. }) => return out,
                (_, Position::Exited(t)) if t.exit_code == 0 => {}
                (_, Position::Exited(t)) => {
                    if policy != "Never" {
                        out.start.push((c.name.clone(), restart_kind(&r, t.finished_at)));
                    }
                    return out;
                }
            }
        }
    }

    // Containers.
    let mut any_active = false;
    for (c, _) in containers.iter().filter(|(_, k)| *k == Kind::Regular) {
        let r = record(&c.name, Kind::Regular);
        match r.position() {
            Position::NotStarted => {
                any_active = true;
                out.start.push((c.name.clone(), Start::First));
            }
            Position::Running { .. } => any_active = true,
            Position::Exited(t) => {
                let restart = if r.spec_changed {
                    true
                } else if r.restart_now {
                    policy != "Never"
                } else {
                    should_restart(policy, t.exit_code)
                };
                if restart {
                    any_active = true;
                    out.start.push((c.name.clone(), restart_kind(&r, t.finished_at)));
                }
            }
        }
    }

    // Sidecars: kept running while the pod is active, stopped once it is done.
    let sidecars = containers.iter().filter(|(_, k)| *k == Kind::Sidecar);
    let mut sidecar_starts = Vec::new();
    for (c, _) in sidecars {
        let r = record(&c.name, Kind::Sidecar);
        match r.position() {
            Position::Running { .. } if !any_active => out.stop.push(c.name.clone()),
            Position::Exited(t) if any_active => sidecar_starts.push((c.name.clone(), restart_kind(&r, t.finished_at))),
            Position::NotStarted if any_active => sidecar_starts.push((c.name.clone(), Start::First)),
            _ => {}
        }
    }
    // Sidecars come back before the containers that may depend on them.
    sidecar_starts.append(&mut out.start);
    out.start = sidecar_starts;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::record::{Run, Terminated};
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn running(name: &str, kind: Kind, started: bool) -> ContainerRecord {
        let mut r = ContainerRecord::new(name, kind);
        r.begin_run(
            Run {
                id: format!("{name}-1"),
                image: String::new(),
                image_id: String::new(),
                started_at: at(0),
                post_start_done: true,
                exit: None,
            },
            0,
        );
        r.started = started;
        r
    }

    fn exited(name: &str, kind: Kind, code: i32) -> ContainerRecord {
        let mut r = running(name, kind, true);
        let id = format!("{name}-1");
        r.record_exit(
            &id,
            Terminated {
                container_id: id.clone(),
                exit_code: code,
                reason: "Error".into(),
                message: None,
                started_at: None,
                finished_at: at(10),
            },
        );
        r
    }

    fn records(list: Vec<ContainerRecord>) -> HashMap<String, ContainerRecord> {
        list.into_iter().map(|r| (r.name.clone(), r)).collect()
    }

    fn names(plan: &Plan) -> Vec<&str> {
        plan.start.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn init_containers_run_one_at_a_time_in_order() {
        let s = spec(json!({"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "c"}]}));
        assert_eq!(names(&plan(&s, &HashMap::new())), vec!["a"]);
        assert_eq!(plan(&s, &records(vec![running("a", Kind::Init, true)])), Plan::default());
        assert_eq!(names(&plan(&s, &records(vec![exited("a", Kind::Init, 0)]))), vec!["b"]);
        let done = records(vec![exited("a", Kind::Init, 0), exited("b", Kind::Init, 0)]);
        assert_eq!(names(&plan(&s, &done)), vec!["c"]);
    }

    #[test]
    fn failed_init_containers_restart_unless_never() {
        let s = spec(json!({"initContainers": [{"name": "a"}], "containers": [{"name": "c"}]}));
        let failed = records(vec![exited("a", Kind::Init, 1)]);
        assert_eq!(plan(&s, &failed).start, vec![("a".to_string(), Start::AfterExit { finished_at: at(10) })]);
        let never =
            spec(json!({"restartPolicy": "Never", "initContainers": [{"name": "a"}], "containers": [{"name": "c"}]}));
        assert_eq!(plan(&never, &failed), Plan::default());
    }

    #[test]
    fn sidecars_must_be_started_before_the_next_init_container() {
        let s = spec(json!({
            "initContainers": [{"name": "side", "restartPolicy": "Always"}, {"name": "init"}],
            "containers": [{"name": "c"}]
        }));
        assert_eq!(names(&plan(&s, &HashMap::new())), vec!["side"]);
        assert_eq!(plan(&s, &records(vec![running("side", Kind::Sidecar, false)])), Plan::default());
        assert_eq!(names(&plan(&s, &records(vec![running("side", Kind::Sidecar, true)]))), vec!["init"]);
        let later = records(vec![
            exited("side", Kind::Sidecar, 1),
            exited("init", Kind::Init, 0),
            running("c", Kind::Regular, true),
        ]);
        assert_eq!(names(&plan(&s, &later)), vec!["side"], "a sidecar that exits is restarted");
    }

    #[test]
    fn restart_policies() {
        let always = spec(json!({"containers": [{"name": "ok"}, {"name": "bad"}]}));
        let exits = records(vec![exited("ok", Kind::Regular, 0), exited("bad", Kind::Regular, 1)]);
        assert_eq!(names(&plan(&always, &exits)), vec!["ok", "bad"]);
        let on_failure = spec(json!({"restartPolicy": "OnFailure", "containers": [{"name": "ok"}, {"name": "bad"}]}));
        assert_eq!(names(&plan(&on_failure, &exits)), vec!["bad"]);
        let never = spec(json!({"restartPolicy": "Never", "containers": [{"name": "ok"}, {"name": "bad"}]}));
        assert_eq!(plan(&never, &exits), Plan::default());
    }

    #[test]
    fn probe_kills_restart_at_once_even_after_success() {
        let on_failure = spec(json!({"restartPolicy": "OnFailure", "containers": [{"name": "c"}]}));
        let mut killed = exited("c", Kind::Regular, 0);
        killed.restart_now = true;
        assert_eq!(plan(&on_failure, &records(vec![killed.clone()])).start, vec![("c".to_string(), Start::Immediate)]);
        let never = spec(json!({"restartPolicy": "Never", "containers": [{"name": "c"}]}));
        assert!(plan(&never, &records(vec![killed])).start.is_empty());
    }

    #[test]
    fn changed_containers_are_replaced_whatever_the_policy() {
        let never = spec(json!({"restartPolicy": "Never", "containers": [{"name": "c"}]}));
        let mut replaced = exited("c", Kind::Regular, 137);
        replaced.spec_changed = true;
        assert_eq!(plan(&never, &records(vec![replaced])).start, vec![("c".to_string(), Start::Immediate)]);
    }

    #[test]
    fn sidecars_stop_when_the_pod_is_done() {
        let s = spec(json!({
            "restartPolicy": "Never",
            "initContainers": [{"name": "side", "restartPolicy": "Always"}],
            "containers": [{"name": "c"}]
        }));
        let done = records(vec![running("side", Kind::Sidecar, true), exited("c", Kind::Regular, 0)]);
        assert_eq!(plan(&s, &done), Plan { start: vec![], stop: vec!["side".into()] });
        let active = records(vec![running("side", Kind::Sidecar, true), running("c", Kind::Regular, true)]);
        assert_eq!(plan(&s, &active), Plan::default());
    }
}
