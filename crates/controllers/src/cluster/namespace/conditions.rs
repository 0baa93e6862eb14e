//! The status conditions a terminating namespace carries while its content is
//! deleted, with upstream's types, reasons and messages.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NamespaceCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
const GV_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// The condition types this controller maintains, in upstream's order.
const TYPES: [&str; 5] =
    [DISCOVERY_FAILURE, GV_PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING, FINALIZERS_REMAINING];

/// What one deletion pass found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Findings {
    pub discovery_error: Option<String>,
    /// Group-resource (`pods.`, `deployments.apps`) -> objects still present.
    pub remaining: BTreeMap<String, usize>,
    /// Finalizer -> objects still carrying it.
    pub finalizers: BTreeMap<String, usize>,
    /// Resources whose content could not be deleted, with why.
    pub delete_errors: Vec<String>,
}

fn ok_variant(ty: &str) -> (&'static str, &'static str) {
    match ty {
        DISCOVERY_FAILURE => ("ResourcesDiscovered", "All resources successfully discovered"),
        GV_PARSING_FAILURE => ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
        CONTENT_FAILURE => ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
        CONTENT_REMAINING => ("ContentRemoved", "All content successfully removed"),
        _ => ("ContentRemoved", "All content successfully removed"),
    }
}

/// The failing variant of `ty`, if the findings call for it: (reason, message).
fn failing(ty: &str, f: &Findings) -> Option<(&'static str, String)> {
    match ty {
        DISCOVERY_FAILURE => f.discovery_error.clone().map(|e| ("DiscoveryFailed", e)),
        CONTENT_FAILURE if !f.delete_errors.is_empty() => {
            let mut errs = f.delete_errors.clone();
            errs.sort();
            Some((
                "ContentDeletionFailed",
                format!("Failed to delete all resource types, {} remaining: {}", errs.len(), errs.join(", ")),
            ))
        }
        CONTENT_REMAINING => {
            let parts: Vec<String> = f
                .remaining
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| format!("{r} has {n} resource instances"))
                .collect();
            (!parts.is_empty())
                .then(|| ("SomeResourcesRemain", format!("Some resources are remaining: {}", parts.join(", "))))
        }
        FINALIZERS_REMAINING => {
            let parts: Vec<String> = f
                .finalizers
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(fin, n)| format!("{fin} in {n} resource instances"))
                .collect();
            (!parts.is_empty())
                .then(|| ("SomeFinalizerRemain", format!("Some finalizers are remaining: {}", parts.join(", "))))
        }
        _ => None,
    }
}

/// Brings `conditions` in line with `findings`; returns whether anything changed.
/// A transition time changes only when a condition's status does.
pub fn update(conditions: &mut Vec<NamespaceCondition>, findings: &Findings, now: &Time) -> bool {
    let mut changed = false;
    for ty in TYPES {
        let (status, reason, message) = match failing(ty, findings) {
            Some((reason, message)) => ("True", reason.to_string(), message),
            None => {
                let (reason, message) = ok_variant(ty);
                ("False", reason.to_string(), message.to_string())
            }
        };
        match conditions.iter_mut().find(|c| c.type_ == ty) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: ty.to_string(),
                    status: status.to_string(),
                    reason: Some(reason),
                    message: Some(message),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
            Some(c) => {
                if c.status != status || c.reason.as_deref() != Some(&reason) || c.message.as_deref() != Some(&message)
                {
                    if c.status != status {
                        c.last_transition_time = Some(now.clone());
                    }
                    c.status = status.to_string();
                    c.reason = Some(reason);
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(cs: &'a [NamespaceCondition], ty: &str) -> &'a NamespaceCondition {
        cs.iter().find(|c| c.type_ == ty).unwrap()
    }

    #[test]
    fn remaining_content_and_finalizers_read_like_upstream() {
        let mut cs = Vec::new();
        let f = Findings {
            remaining: [("pods.".to_string(), 2), ("widgets.example.com".to_string(), 1)].into(),
            finalizers: [("example.com/keep".to_string(), 1)].into(),
            ..Default::default()
        };
        let now = Time(jiff::Timestamp::now());
        assert!(update(&mut cs, &f, &now));
        assert_eq!(cs.len(), 5);
        let c = find(&cs, CONTENT_REMAINING);
        assert_eq!(c.status, "True");
        assert_eq!(c.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            c.message.as_deref(),
            Some(
                "Some resources are remaining: pods. has 2 resource instances, widgets.example.com has 1 resource instances"
            )
        );
        let c = find(&cs, FINALIZERS_REMAINING);
        assert_eq!(
            c.message.as_deref(),
            Some("Some finalizers are remaining: example.com/keep in 1 resource instances")
        );
        let c = find(&cs, DISCOVERY_FAILURE);
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some("ResourcesDiscovered")));
        // Same findings again: nothing to write.
        assert!(!update(&mut cs, &f, &now));
    }

    #[test]
    fn failures_and_recovery() {
        let mut cs = Vec::new();
        let early = Time(jiff::Timestamp::from_second(1_000).unwrap());
        let f = Findings { delete_errors: vec!["b failed".into(), "a failed".into()], ..Default::default() };
        update(&mut cs, &f, &early);
        let c = find(&cs, CONTENT_FAILURE);
        assert_eq!(c.message.as_deref(), Some("Failed to delete all resource types, 2 remaining: a failed, b failed"));
        let later = Time(jiff::Timestamp::from_second(2_000).unwrap());
        assert!(update(&mut cs, &Findings::default(), &later));
        let c = find(&cs, CONTENT_FAILURE);
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some("ContentDeleted")));
        assert_eq!(c.last_transition_time, Some(later.clone()));
        // A condition whose status did not change keeps its time.
        assert_eq!(find(&cs, CONTENT_REMAINING).last_transition_time, Some(early));
    }
}
