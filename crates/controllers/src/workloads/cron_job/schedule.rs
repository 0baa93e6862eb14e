//! Schedule arithmetic of the CronJob controller, as pure functions of "now": the most
//! recent activation not yet started (catching up after downtime, bounded by
//! `startingDeadlineSeconds`), how many were missed, when to look again, and the
//! deterministic name of the Job for an activation.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k3rs_api::kinds::batch::cron::CronSchedule;

/// Upstream wakes up this long after an activation time.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// Counting missed activations one by one stops here (upstream warns beyond 100).
const MAX_EXACT_STEPS: i64 = 1000;

/// What a CronJob's history says about its schedule.
#[derive(Debug, Clone)]
pub struct ScheduleState {
    pub created: Timestamp,
    pub last_schedule: Option<Timestamp>,
    pub starting_deadline_seconds: Option<i64>,
}

/// The outcome of [`most_recent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MostRecent {
    /// From when activations are considered (last schedule, creation, or the starting
    /// deadline window).
    pub earliest: Timestamp,
    /// The latest activation at or before now that is after `earliest`.
    pub time: Option<Timestamp>,
    /// How many activations were missed since `earliest` (including `time`).
    pub missed: i64,
}

/// Upstream's `mostRecentScheduleTime`.
pub fn most_recent(
    state: &ScheduleState,
    schedule: &CronSchedule,
    tz: &TimeZone,
    now: Timestamp,
    include_starting_deadline: bool,
) -> Result<MostRecent, String> {
    let mut earliest = state.last_schedule.unwrap_or(state.created);
    if include_starting_deadline && let Some(deadline) = state.starting_deadline_seconds {
        // Nothing older than the starting deadline will be started anyway.
        let window_start = now - jiff::SignedDuration::from_secs(deadline);
        if window_start > earliest {
            earliest = window_start;
        }
    }
    let Some(t1) = schedule.next_after(earliest, tz) else {
        return Ok(MostRecent { earliest, time: None, missed: 0 });
    };
    if now < t1 {
        return Ok(MostRecent { earliest, time: None, missed: 0 });
    }
    let Some(t2) = schedule.next_after(t1, tz) else {
        return Ok(MostRecent { earliest, time: Some(t1), missed: 1 });
    };
    if now < t2 {
        return Ok(MostRecent { earliest, time: Some(t1), missed: 1 });
    }
    let between = t2.duration_since(t1).as_secs();
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".into());
    }
    // Walk the real schedule (month lengths, daylight saving) while it is cheap; beyond
    // that, estimate from the interval as upstream does.
    let mut missed = 2;
    let mut latest = t2;
    while missed < MAX_EXACT_STEPS {
        match schedule.next_after(latest, tz) {
            Some(next) if next <= now => {
                latest = next;
                missed += 1;
            }
            _ => return Ok(MostRecent { earliest, time: Some(latest), missed }),
        }
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed = elapsed / between + 1;
    let estimate = Timestamp::from_second(t1.as_second() + (missed - 1) * between).unwrap_or(latest);
    Ok(MostRecent { earliest, time: Some(estimate.max(latest)), missed })
}

/// How long until the next activation after the most recent one (plus a small delta).
pub fn next_delay(state: &ScheduleState, schedule: &CronSchedule, tz: &TimeZone, now: Timestamp) -> Duration {
    let Ok(recent) = most_recent(state, schedule, tz, now, false) else { return NEXT_SCHEDULE_DELTA };
    let from = recent.time.unwrap_or(recent.earliest);
    match schedule.next_after(from, tz) {
        Some(next) => {
            let d = next.duration_since(now);
            let d = if d.is_negative() { Duration::ZERO } else { d.unsigned_abs() };
            d + NEXT_SCHEDULE_DELTA
        }
        // No activation in the next five years: look again in a day.
        None => Duration::from_secs(24 * 3600),
    }
}

/// `<cronjob>-<minutes since the epoch of the activation>`: the same activation always
/// gives the same name, which makes creating its Job idempotent.
pub fn job_name(cron_job: &str, scheduled: Timestamp) -> String {
    format!("{cron_job}-{}", scheduled.as_second().div_euclid(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k3rs_api::kinds::batch::cron::parse;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn state(created: &str, last: Option<&str>, deadline: Option<i64>) -> ScheduleState {
        ScheduleState { created: t(created), last_schedule: last.map(t), starting_deadline_seconds: deadline }
    }

    #[test]
    fn nothing_due_before_the_first_activation() {
        let s = parse("*/5 * * * *").unwrap();
        let r = most_recent(
            &state("2024-01-01T10:01:00Z", None, None),
            &s,
            &TimeZone::UTC,
            t("2024-01-01T10:04:59Z"),
            true,
        )
        .unwrap();
        assert_eq!(r.time, None);
        let d = next_delay(&state("2024-01-01T10:01:00Z", None, None), &s, &TimeZone::UTC, t("2024-01-01T10:04:00Z"));
        assert_eq!(d, Duration::from_secs(60) + NEXT_SCHEDULE_DELTA);
    }

    #[test]
    fn catches_up_with_the_latest_missed_activation() {
        let s = parse("0 * * * *").unwrap();
        // Down from 10:30 to 14:10: four activations missed, the 14:00 one is started.
        let st = state("2024-01-01T08:00:00Z", Some("2024-01-01T10:00:00Z"), None);
        let r = most_recent(&st, &s, &TimeZone::UTC, t("2024-01-01T14:10:00Z"), true).unwrap();
        assert_eq!(r.time, Some(t("2024-01-01T14:00:00Z")));
        assert_eq!(r.missed, 4);
    }

    #[test]
    fn starting_deadline_limits_the_catch_up() {
        let s = parse("0 * * * *").unwrap();
        let st = state("2024-01-01T08:00:00Z", Some("2024-01-01T10:00:00Z"), Some(300));
        // 14:10 is more than 300s after 14:00: nothing may start.
        let r = most_recent(&st, &s, &TimeZone::UTC, t("2024-01-01T14:10:00Z"), true).unwrap();
        assert_eq!(r.time, None);
        let r = most_recent(&st, &s, &TimeZone::UTC, t("2024-01-01T14:04:00Z"), true).unwrap();
        assert_eq!(r.time, Some(t("2024-01-01T14:00:00Z")));
    }

    #[test]
    fn time_zones_shift_activations() {
        let s = parse("0 9 * * *").unwrap();
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let st = state("2024-06-01T00:00:00Z", None, None);
        let r = most_recent(&st, &s, &tz, t("2024-06-01T08:00:00Z"), true).unwrap();
        // 09:00 in Paris is 07:00 UTC in summer.
        assert_eq!(r.time, Some(t("2024-06-01T07:00:00Z")));
    }

    #[test]
    fn long_outages_are_estimated() {
        let s = parse("* * * * *").unwrap();
        let st = state("2020-01-01T00:00:00Z", None, None);
        let r = most_recent(&st, &s, &TimeZone::UTC, t("2020-01-03T00:00:30Z"), true).unwrap();
        assert_eq!(r.time, Some(t("2020-01-03T00:00:00Z")));
        assert_eq!(r.missed, 2 * 24 * 60);
    }

    #[test]
    fn job_names_count_minutes() {
        assert_eq!(job_name("hello", t("2024-01-01T00:01:00Z")), "hello-28401121");
    }
}
