//! Completion indexes of Indexed Jobs: the compressed interval form of
//! `status.completedIndexes` ("1,3-5,7"), which indexes still need a pod, and which
//! pods are surplus (duplicate, out of range or without an index).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

/// `batch.kubernetes.io/job-completion-index`, annotation and label of Indexed Job pods.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The environment variable pods read their index from.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The completion index of a pod, if it has a valid one.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX_ANNOTATION)?.parse::<i32>().ok().filter(|i| *i >= 0)
}

/// Sorted, disjoint, non-adjacent closed intervals of indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Parses `completedIndexes`, ignoring corrupt parts and indexes at or beyond
    /// `completions` (upstream's `succeededIndexesFromString`).
    pub fn parse(s: &str, completions: i32) -> Intervals {
        let mut out: Vec<(i32, i32)> = Vec::new();
        if s.is_empty() {
            return Intervals(out);
        }
        for part in s.split(',') {
            let mut limits = part.split('-');
            let Some(first) = limits.next().and_then(|f| f.trim().parse::<i32>().ok()) else { continue };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                Some(l) => match l.trim().parse::<i32>() {
                    Ok(l) => l.min(completions - 1),
                    Err(_) => continue,
                },
                None => first,
            };
            match out.last_mut() {
                Some(prev) if prev.1 == first - 1 => prev.1 = last,
                _ => out.push((first, last)),
            }
        }
        Intervals(out)
    }

    /// These intervals plus `new` indexes (given in increasing order).
    pub fn with(&self, new: &[i32]) -> Intervals {
        let mut all: Vec<(i32, i32)> = self.0.clone();
        all.extend(new.iter().map(|&i| (i, i)));
        all.sort();
        let mut out: Vec<(i32, i32)> = Vec::new();
        for (first, last) in all {
            match out.last_mut() {
                Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
                _ => out.push((first, last)),
            }
        }
        Intervals(out)
    }

    pub fn total(&self) -> i32 {
        self.0.iter().map(|(f, l)| l - f + 1).sum()
    }

    pub fn has(&self, ix: i32) -> bool {
        self.0.iter().any(|(f, l)| *f <= ix && ix <= *l)
    }
}

impl fmt::Display for Intervals {
    /// `0-2,4,6,7`: runs of three or more use a dash, pairs a comma.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, (first, last)) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last > first {
                let sep = if *last == first + 1 { "," } else { "-" };
                write!(f, "{sep}{last}")?;
            }
        }
        Ok(())
    }
}

/// The first `count` indexes below `completions` that neither succeeded nor have an
/// active pod.
pub fn first_pending(active: &[Arc<Pod>], succeeded: &Intervals, count: usize, completions: i32) -> Vec<i32> {
    let taken: BTreeSet<i32> = active.iter().filter_map(|p| completion_index(p)).collect();
    (0..completions).filter(|i| !succeeded.has(*i) && !taken.contains(i)).take(count).collect()
}

/// Splits active pods into those to remove (no index, index out of range, or all but
/// one of the pods sharing an index) and the rest.
pub fn duplicated_for_removal(pods: &[Arc<Pod>], completions: i32) -> (Vec<Arc<Pod>>, Vec<Arc<Pod>>) {
    let mut sorted = pods.to_vec();
    sorted.sort_by_key(|p| completion_index(p).unwrap_or(-1));
    let mut remove = Vec::new();
    let mut keep: Vec<Arc<Pod>> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let ix = completion_index(&sorted[i]);
        let mut j = i + 1;
        while j < sorted.len() && completion_index(&sorted[j]) == ix {
            j += 1;
        }
        let group = &sorted[i..j];
        match ix {
            Some(ix) if ix < completions => {
                // Keep the most advanced pod of the index; remove the others.
                let mut group = group.to_vec();
                crate::workloads::pods::sort_for_deletion(&mut group, &Default::default(), jiff::Timestamp::now());
                if let Some(last) = group.pop() {
                    keep.push(last);
                }
                remove.extend(group);
            }
            _ => remove.extend(group.iter().cloned()),
        }
        i = j;
    }
    (remove, keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, index: Option<&str>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: index.map(|i| [(COMPLETION_INDEX_ANNOTATION.to_string(), i.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn intervals_parse_merge_and_print_like_upstream() {
        let iv = Intervals::parse("1,3-5,7", 10);
        assert_eq!(iv.total(), 5);
        assert_eq!(iv.to_string(), "1,3-5,7");
        assert_eq!(iv.with(&[2, 6]).to_string(), "1-7");
        assert_eq!(Intervals::default().with(&[0, 1]).to_string(), "0,1");
        assert_eq!(Intervals::parse("0-9", 4).to_string(), "0-3");
        assert_eq!(Intervals::parse("x,2", 4).to_string(), "2");
        assert!(iv.has(4) && !iv.has(6));
    }

    #[test]
    fn pending_indexes_skip_succeeded_and_active_ones() {
        let succeeded = Intervals::parse("0,2", 6);
        let active = vec![pod("a", Some("1")), pod("b", Some("4"))];
        assert_eq!(first_pending(&active, &succeeded, 10, 6), vec![3, 5]);
        assert_eq!(first_pending(&active, &succeeded, 1, 6), vec![3]);
    }

    #[test]
    fn duplicates_and_bad_indexes_are_removed() {
        let pods =
            vec![pod("a", Some("1")), pod("b", Some("1")), pod("c", Some("9")), pod("d", None), pod("e", Some("0"))];
        let (remove, keep) = duplicated_for_removal(&pods, 3);
        assert_eq!(remove.len(), 3);
        assert_eq!(keep.len(), 2);
        let kept: Vec<_> = keep.iter().filter_map(|p| completion_index(p)).collect();
        assert_eq!(kept, vec![0, 1]);
    }
}
