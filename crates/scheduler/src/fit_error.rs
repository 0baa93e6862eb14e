//! The "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient
//! cpu. preemption: ..." message of a FailedScheduling event, built as upstream's
//! `FitError.Error()`: the reasons counted over the nodes, sorted as strings, then the
//! pre-filter and post-filter (preemption) messages.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::framework::Status;

/// Upstream's message when the cluster has no nodes at all.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// Why a pod fits nowhere.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    pub num_all_nodes: usize,
    /// A reason that ruled out every node before any was checked.
    pub prefilter: Option<String>,
    /// The status of each node that failed a filter.
    pub node_statuses: BTreeMap<String, Status>,
    /// What preemption said.
    pub postfilter: Option<String>,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_all_nodes == 0 && self.prefilter.is_none() {
            return f.write_str(NO_NODES);
        }
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if let Some(pre) = &self.prefilter {
            write!(f, " {pre}.")?;
        } else {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for status in self.node_statuses.values() {
                for r in &status.reasons {
                    *counts.entry(r.as_str()).or_insert(0) += 1;
                }
            }
            let mut parts: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
            parts.sort();
            if !parts.is_empty() {
                write!(f, " {}.", parts.join(", "))?;
            }
        }
        if let Some(post) = &self.postfilter {
            write!(f, " {post}.")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(list: &[(&str, Status)]) -> BTreeMap<String, Status> {
        list.iter().map(|(n, s)| (n.to_string(), s.clone())).collect()
    }

    #[test]
    fn upstream_wording() {
        let d = Diagnosis {
            num_all_nodes: 3,
            node_statuses: statuses(&[
                ("a", Status::unresolvable("node(s) had untolerated taint {dedicated: gpu}")),
                ("b", Status::unschedulable("Insufficient cpu")),
                ("c", Status::unschedulable("Insufficient cpu")),
            ]),
            prefilter: None,
            postfilter: Some(
                "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
                    .into(),
            ),
        };
        assert_eq!(
            d.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. \
             preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."
        );
    }

    #[test]
    fn several_reasons_of_one_node_count_separately() {
        let mut both = Status::unschedulable("Insufficient cpu");
        both.reasons.push("Insufficient memory".into());
        let d = Diagnosis { num_all_nodes: 1, node_statuses: statuses(&[("a", both)]), ..Default::default() };
        assert_eq!(d.to_string(), "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.");
    }

    #[test]
    fn prefilter_and_empty_cluster() {
        let d = Diagnosis {
            num_all_nodes: 2,
            prefilter: Some("persistentvolumeclaim \"data\" not found".into()),
            ..Default::default()
        };
        assert_eq!(d.to_string(), "0/2 nodes are available: persistentvolumeclaim \"data\" not found.");
        assert_eq!(Diagnosis::default().to_string(), NO_NODES);
    }
}
