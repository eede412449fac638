//! The count of writes the operator sends to the API server: exported as a metric, and read by
//! tests and benchmarks to prove a steady-state poll writes nothing.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the writes the operator sends, by kind and verb.
#[derive(Debug, Default)]
pub struct WriteCounter {
    pub security_association_applies: AtomicU64,
    pub security_association_status_applies: AtomicU64,
    pub security_association_deletes: AtomicU64,
    pub cluster_status_applies: AtomicU64,
}

impl WriteCounter {
    /// All writes so far.
    #[must_use]
    pub fn total(&self) -> u64 {
        [
            &self.security_association_applies,
            &self.security_association_status_applies,
            &self.security_association_deletes,
            &self.cluster_status_applies,
        ]
        .iter()
        .map(|counter| counter.load(Ordering::Relaxed))
        .sum()
    }
}
