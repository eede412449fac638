//! When to poll a cluster: the schedule after a success, the retries after a failure, and what
//! makes a poll due early. Pure: every input, the clock included, is an argument.

use std::time::{Duration, Instant};

/// Spread of the poll schedule, so clusters added together do not poll together forever.
const JITTER_FRACTION: f64 = 0.1;

/// What triggers an out-of-schedule poll: a new object, a spec change, or a new value of the
/// refresh annotation. Status writes change none of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub uid: String,
    pub generation: Option<i64>,
    pub refresh: Option<String>,
}

/// How long until the scheduled poll at `next_poll`, when what triggered the last one is still
/// `trigger`; `None` when a poll is due now.
#[must_use]
pub fn not_yet_due(
    next_poll: Option<Instant>,
    last_trigger: Option<&Trigger>,
    trigger: &Trigger,
    now: Instant,
) -> Option<Duration> {
    let due = next_poll.filter(|_| last_trigger == Some(trigger))?;
    due.checked_duration_since(now)
        .filter(|wait| !wait.is_zero())
}

/// `interval` moved by up to a tenth either way; `unit` is a random number in `[0, 1)`.
#[must_use]
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(1.0 + JITTER_FRACTION * (unit * 2.0 - 1.0))
}

/// After a failed poll: how many in a row, whether the mirrors are stale, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFailure {
    pub failures: u32,
    pub stale: bool,
    pub retry_in: Duration,
}

/// The schedule after the `failures`-th failed poll in a row of a cluster last healthy at
/// `healthy_since`, whose mirrors turn stale `stale_threshold` after that.
#[must_use]
pub fn after_failure(
    needs_human: bool,
    failures: u32,
    healthy_since: Instant,
    stale_threshold: Duration,
    poll_interval: Duration,
    now: Instant,
) -> AfterFailure {
    let until_stale = (healthy_since + stale_threshold).checked_duration_since(now);
    AfterFailure {
        failures,
        stale: until_stale.is_none(),
        retry_in: retry_delay(needs_human, failures, poll_interval, until_stale),
    }
}

/// When to poll again after a failure. `until_stale` is how long until the cluster's mirrors
/// turn stale (`None` once they are): the retry comes no later, so that staleness is reported
/// on time however long the backoff has grown.
#[must_use]
pub fn retry_delay(
    needs_human: bool,
    consecutive_failures: u32,
    poll_interval: Duration,
    until_stale: Option<Duration>,
) -> Duration {
    let delay = if needs_human {
        // Nothing changes by itself, but a fixed Secret is not watched: look again now and then
        // without hammering ONTAP with credentials it rejects.
        poll_interval.max(PERMANENT_ERROR_RECHECK)
    } else {
        transient_backoff(consecutive_failures, poll_interval)
    };
    match until_stale {
        Some(until_stale) => delay.min(until_stale.max(FIRST_RETRY)),
        None => delay,
    }
}

/// How often a cluster stuck on an error that needs a human is looked at again.
pub const PERMANENT_ERROR_RECHECK: Duration = Duration::from_secs(300);
/// Bounds of the longest wait between retries of a failing cluster: never more often than once a
/// minute once the backoff has grown, never less often than every five minutes.
pub const MIN_RETRY_CAP: Duration = Duration::from_secs(60);
pub const MAX_RETRY_CAP: Duration = Duration::from_secs(300);
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// 5 s, 10 s, 20 s, … up to the poll interval held between one and five minutes. A stalled
/// endpoint then costs one of the failing clusters' poll slots for at most a request timeout
/// a minute, and a cluster that recovers is seen again within that cap.
#[must_use]
pub fn transient_backoff(consecutive_failures: u32, poll_interval: Duration) -> Duration {
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    let cap = poll_interval.clamp(MIN_RETRY_CAP, MAX_RETRY_CAP);
    FIRST_RETRY.saturating_mul(1 << exponent).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(generation: i64) -> Trigger {
        Trigger {
            uid: "u".into(),
            generation: Some(generation),
            refresh: None,
        }
    }

    #[test]
    fn a_poll_waits_for_its_time_unless_the_trigger_changed() {
        let now = Instant::now();
        let later = now + Duration::from_secs(30);
        let wait = not_yet_due(Some(later), Some(&trigger(1)), &trigger(1), now);
        assert_eq!(wait, Some(Duration::from_secs(30)));
        assert_eq!(
            not_yet_due(Some(later), Some(&trigger(1)), &trigger(2), now),
            None
        );
        assert_eq!(not_yet_due(None, Some(&trigger(1)), &trigger(1), now), None);
        assert_eq!(
            not_yet_due(Some(now), Some(&trigger(1)), &trigger(1), now),
            None
        );
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        let interval = Duration::from_secs(100);
        assert_eq!(jittered(interval, 0.0), Duration::from_secs(90));
        assert_eq!(jittered(interval, 0.5), interval);
        assert!(jittered(interval, 0.999_999) <= Duration::from_secs(110));
    }

    #[test]
    fn failures_turn_stale_after_the_threshold_and_retry_before_it() {
        let start = Instant::now();
        let threshold = Duration::from_secs(180);
        let interval = Duration::from_secs(60);
        let early = after_failure(false, 1, start, threshold, interval, start);
        assert_eq!((early.stale, early.retry_in), (false, FIRST_RETRY));
        let near = after_failure(
            false,
            9,
            start,
            threshold,
            interval,
            start + Duration::from_secs(170),
        );
        assert_eq!(
            (near.stale, near.retry_in),
            (false, Duration::from_secs(10))
        );
        let late = after_failure(
            false,
            9,
            start,
            threshold,
            interval,
            start + threshold + Duration::from_secs(1),
        );
        assert!(late.stale);
    }

    #[test]
    fn transient_backoff_doubles_up_to_the_interval_held_between_one_and_five_minutes() {
        let delays = |interval: u64| -> Vec<u64> {
            (1..=8)
                .map(|n| transient_backoff(n, Duration::from_secs(interval)).as_secs())
                .collect()
        };
        assert_eq!(delays(10), [5, 10, 20, 40, 60, 60, 60, 60]);
        assert_eq!(delays(120), [5, 10, 20, 40, 80, 120, 120, 120]);
        assert_eq!(delays(3600), [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(
            transient_backoff(1000, Duration::from_secs(3600)),
            MAX_RETRY_CAP
        );
    }

    #[test]
    fn errors_that_need_a_human_are_rechecked_rarely() {
        assert_eq!(
            retry_delay(true, 1, Duration::from_secs(10), None),
            PERMANENT_ERROR_RECHECK
        );
    }

    #[test]
    fn a_retry_comes_no_later_than_the_moment_mirrors_turn_stale() {
        let interval = Duration::from_secs(10);
        assert_eq!(
            retry_delay(false, 7, interval, Some(Duration::from_secs(12))),
            Duration::from_secs(12)
        );
        assert_eq!(
            retry_delay(false, 7, interval, Some(Duration::ZERO)),
            FIRST_RETRY,
            "never a hot loop"
        );
        assert_eq!(retry_delay(false, 7, interval, None), MIN_RETRY_CAP);
    }
}
