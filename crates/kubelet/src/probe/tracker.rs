//! A probe's state across checks: upstream's timing fields with their defaults,
//! and the consecutive-result thresholds that turn single checks into the
//! container's started / ready / live state.

use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;

use super::{Outcome, ProbeKind};

/// Timing and thresholds of a probe, defaulted as upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// Probe-level `terminationGracePeriodSeconds` (liveness/startup kills).
    pub termination_grace_period: Option<i64>,
}

fn positive(v: Option<i32>, default: u32) -> u32 {
    v.filter(|v| *v >= 1).map(|v| v as u32).unwrap_or(default)
}

impl Timing {
    pub fn from_probe(p: &Probe) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(p.initial_delay_seconds.unwrap_or(0).max(0) as u64),
            period: Duration::from_secs(u64::from(positive(p.period_seconds, 10))),
            timeout: Duration::from_secs(u64::from(positive(p.timeout_seconds, 1))),
            success_threshold: positive(p.success_threshold, 1),
            failure_threshold: positive(p.failure_threshold, 3),
            termination_grace_period: p.termination_grace_period_seconds,
        }
    }
}

/// What a probe says about its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No verdict yet (a startup probe before its first success).
    Unknown,
    Success,
    Failure,
}

/// A change of the probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    BecameSuccess,
    BecameFailure,
}

#[derive(Debug, Clone)]
pub struct ProbeTracker {
    pub kind: ProbeKind,
    pub timing: Timing,
    state: State,
    last: Option<bool>,
    run: u32,
}

impl ProbeTracker {
    /// A fresh tracker for a (re)started container: not ready, live, not started.
    pub fn new(kind: ProbeKind, timing: Timing) -> Self {
        ProbeTracker { kind, timing, state: Self::initial_state(kind), last: None, run: 0 }
    }

    /// A tracker that continues from a known verdict (a container re-adopted after an
    /// agent restart keeps its readiness instead of flapping to not-ready).
    pub fn resume(kind: ProbeKind, timing: Timing, state: State) -> Self {
        ProbeTracker { kind, timing, state, last: None, run: 0 }
    }

    fn initial_state(kind: ProbeKind) -> State {
        match kind {
            ProbeKind::Readiness => State::Failure,
            ProbeKind::Liveness => State::Success,
            ProbeKind::Startup => State::Unknown,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Records one check; returns the verdict's change, if the check completed a run
    /// of `successThreshold` successes or `failureThreshold` failures.
    pub fn record(&mut self, outcome: &Outcome) -> Option<Transition> {
        let ok = outcome.is_success();
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let threshold = if ok { self.timing.success_threshold } else { self.timing.failure_threshold };
        if self.run < threshold {
            return None;
        }
        let new = if ok { State::Success } else { State::Failure };
        if matches!(self.kind, ProbeKind::Liveness | ProbeKind::Startup) && !ok {
            // The container will be restarted: count afresh for the next one.
            self.run = 0;
            self.last = None;
        }
        if new == self.state {
            return None;
        }
        self.state = new;
        Some(if ok { Transition::BecameSuccess } else { Transition::BecameFailure })
    }

    /// The container was restarted: start over.
    pub fn reset(&mut self) {
        *self = ProbeTracker::new(self.kind, self.timing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn timing(success: u32, failure: u32) -> Timing {
        Timing::from_probe(
            &serde_json::from_value(json!({"successThreshold": success, "failureThreshold": failure})).unwrap(),
        )
    }

    #[test]
    fn defaults_match_upstream() {
        let t = Timing::from_probe(&Probe::default());
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
        assert_eq!(t.initial_delay, Duration::ZERO);
    }

    #[test]
    fn liveness_fails_after_threshold_then_starts_over() {
        let mut t = ProbeTracker::new(ProbeKind::Liveness, timing(1, 3));
        let fail = Outcome::Failure("x".into());
        assert_eq!(t.record(&fail), None);
        assert_eq!(t.record(&Outcome::Success), None);
        assert_eq!(t.record(&fail), None);
        assert_eq!(t.record(&fail), None);
        assert_eq!(t.record(&fail), Some(Transition::BecameFailure));
        assert_eq!(t.state(), State::Failure);
        t.reset();
        assert_eq!(t.state(), State::Success);
    }

    #[test]
    fn readiness_needs_success_threshold_and_flips_back() {
        let mut t = ProbeTracker::new(ProbeKind::Readiness, timing(2, 1));
        assert_eq!(t.state(), State::Failure);
        assert_eq!(t.record(&Outcome::Success), None);
        assert_eq!(t.record(&Outcome::Success), Some(Transition::BecameSuccess));
        assert_eq!(t.record(&Outcome::Failure("no".into())), Some(Transition::BecameFailure));
        assert_eq!(t.record(&Outcome::Warning("redirect".into())), None);
        assert_eq!(t.record(&Outcome::Success), Some(Transition::BecameSuccess));
    }

    #[test]
    fn resumed_readiness_needs_a_failure_run_to_flip() {
        let mut t = ProbeTracker::resume(ProbeKind::Readiness, timing(1, 2), State::Success);
        assert_eq!(t.record(&Outcome::Success), None);
        assert_eq!(t.record(&Outcome::Failure("x".into())), None);
        assert_eq!(t.record(&Outcome::Failure("x".into())), Some(Transition::BecameFailure));
    }

    #[test]
    fn startup_is_unknown_until_success() {
        let mut t = ProbeTracker::new(ProbeKind::Startup, timing(1, 2));
        assert_eq!(t.state(), State::Unknown);
        assert_eq!(t.record(&Outcome::Success), Some(Transition::BecameSuccess));
    }
}
