//! Polls a condition until it holds or a deadline passes, for effects the cluster applies later.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often conditions are re-checked: often enough for a quick test, rare enough for 2 cores.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Awaits `condition` every [`POLL_INTERVAL`] until it returns true and reports how long that
/// took; panics naming `what` if it still returns false after `timeout`.
pub async fn until<F, Fut>(timeout: Duration, what: &str, mut condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
