//! Poll slots: how many clusters poll at once, with clusters not yet known to answer (new, or
//! whose last poll failed) held to half of them while they wait for ONTAP, so that stalled or
//! failing endpoints cannot take every slot from healthy ones.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots shared by every reconcile.
#[derive(Debug)]
pub struct PollSlots {
    all: Arc<Semaphore>,
    failing: Arc<Semaphore>,
}

/// A slot held for one poll; dropping it frees the slot.
#[derive(Debug)]
pub struct PollSlot {
    _all: Option<OwnedSemaphorePermit>,
    failing: Option<OwnedSemaphorePermit>,
}

impl PollSlot {
    /// ONTAP answered: the writes that follow no longer count against the share of clusters
    /// not known to answer.
    pub fn answered(&mut self) {
        self.failing = None;
    }
}

impl PollSlots {
    /// `max` polls at once (at least one), of which at most half (at least one) for clusters
    /// not known to answer.
    #[must_use]
    pub fn new(max: u16) -> Self {
        let max = usize::from(max.max(1));
        Self {
            all: Arc::new(Semaphore::new(max)),
            failing: Arc::new(Semaphore::new((max / 2).max(1))),
        }
    }

    /// Waits for a slot. A cluster not known to answer first waits for one of its share, then,
    /// like every cluster, for one of all slots: such clusters never hold more than their share
    /// while they wait for ONTAP, and slots are handed out first come, first served.
    pub async fn acquire(&self, failing: bool) -> PollSlot {
        // The semaphores are never closed, so acquiring cannot fail; `ok()` only satisfies
        // the type.
        let failing = if failing {
            Arc::clone(&self.failing).acquire_owned().await.ok()
        } else {
            None
        };
        let all = Arc::clone(&self.all).acquire_owned().await.ok();
        PollSlot { _all: all, failing }
    }

    /// Slots free now, for tests and diagnostics.
    #[must_use]
    pub fn available(&self) -> (usize, usize) {
        (
            self.all.available_permits(),
            self.failing.available_permits(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn failing_clusters_hold_at_most_half_the_slots() {
        let slots = PollSlots::new(8);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(slots.acquire(true).await);
        }
        let fifth = tokio::time::timeout(Duration::from_millis(50), slots.acquire(true)).await;
        assert!(fifth.is_err(), "a fifth failing cluster must wait");
        for _ in 0..4 {
            let healthy =
                tokio::time::timeout(Duration::from_millis(50), slots.acquire(false)).await;
            held.push(healthy.expect("a healthy cluster gets one of the other slots"));
        }
        assert_eq!(slots.available(), (0, 0));
        drop(held);
        assert_eq!(slots.available(), (8, 4));
    }

    #[tokio::test]
    async fn an_answered_poll_gives_its_share_back_and_keeps_its_slot() {
        let slots = PollSlots::new(2);
        let mut slot = slots.acquire(true).await;
        assert_eq!(slots.available(), (1, 0));
        slot.answered();
        assert_eq!(slots.available(), (1, 1));
        drop(slot);
        assert_eq!(slots.available(), (2, 1));
    }

    #[tokio::test]
    async fn one_slot_is_still_one_slot_for_everyone() {
        let slots = PollSlots::new(1);
        let held = slots.acquire(true).await;
        let healthy = tokio::time::timeout(Duration::from_millis(50), slots.acquire(false)).await;
        assert!(healthy.is_err());
        drop(held);
        let _healthy = slots.acquire(false).await;
    }

    #[tokio::test]
    async fn zero_is_taken_as_one() {
        assert_eq!(PollSlots::new(0).available(), (1, 1));
    }
}
