//! The soak's setup and the bounds derived from it; docs/reliability.md explains each.

use std::time::Duration;

/// Simulated ONTAP clusters, each with its own OntapCluster.
pub const CLUSTERS: usize = 5;
/// `ontap_sim::generate(NODES, TUNNELS_PER_NODE)`: 2 × 25 tunnels, one IKE and one IPsec SA each.
pub const NODES: usize = 2;
pub const TUNNELS_PER_NODE: usize = 25;
/// SAs per cluster at the start.
pub const SAS_PER_CLUSTER: usize = NODES * TUNNELS_PER_NODE * 2;
/// Churn keeps each cluster within this many SAs of its start.
pub const CHURN_SPREAD: usize = 12;
/// The most SAs a cluster can hold during the soak.
pub const MAX_SAS_PER_CLUSTER: usize = SAS_PER_CLUSTER + CHURN_SPREAD + 1;

/// The OntapCluster settings.
pub const POLL_INTERVAL_SECONDS: u64 = 10;
pub const TIMEOUT_SECONDS: u64 = 3;
pub const STALE_AFTER: u64 = 3;

/// Longest wait between two polls: the interval plus its 10 % jitter.
const LONGEST_WAIT: Duration = Duration::from_secs(POLL_INTERVAL_SECONDS * 11 / 10);
/// Longest one poll may take: four timeouts.
const LONGEST_POLL: Duration = Duration::from_secs(4 * TIMEOUT_SECONDS);
/// Time to write a few hundred objects on a loaded 2-core machine, and the checker's own period.
const SLACK: Duration = Duration::from_secs(15);

/// How long a mirror may show an SA's previous health when no fault was on: one wait, one poll,
/// the slack.
pub const CLEAN_LAG: Duration = LONGEST_WAIT
    .saturating_add(LONGEST_POLL)
    .saturating_add(SLACK);
/// With a fault on, polls fail and a mirror keeps its last value until `staleAfter` intervals
/// have passed since the last successful poll; then the conditions must turn Unknown.
pub const FAULT_LAG: Duration = Duration::from_secs(STALE_AFTER * POLL_INTERVAL_SECONDS)
    .saturating_add(LONGEST_WAIT)
    .saturating_add(LONGEST_POLL)
    .saturating_add(SLACK);
/// After the API server comes back, how long the operator has to reconnect its watches, let its
/// retry backoff run out and write again, on top of [`FAULT_LAG`].
pub const OUTAGE_GRACE: Duration = Duration::from_secs(60);

/// A fault episode lasts this long (seconds), followed by a calm gap of up to `CALM_GAP`.
pub const EPISODE_SECONDS: std::ops::RangeInclusive<u64> = 10..=60;
pub const CALM_GAP_SECONDS: std::ops::RangeInclusive<u64> = 0..=20;
/// Seconds between two record changes (over all clusters).
pub const CHURN_EVERY_SECONDS: std::ops::RangeInclusive<u64> = CHURN_EVERY_MIN..=9;
const CHURN_EVERY_MIN: u64 = 3;
/// Shortest page a `short_pages` fault serves.
pub const MIN_SHORT_PAGE: usize = 5;
/// API-server outages: the first after this many seconds, then every this many, down this long.
pub const FIRST_OUTAGE_SECONDS: std::ops::RangeInclusive<u64> = 90..=150;
pub const OUTAGE_EVERY_SECONDS: std::ops::RangeInclusive<u64> = 150..=240;
pub const OUTAGE_SECONDS: std::ops::RangeInclusive<u64> = 10..=20;

/// How often the invariants are checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Resident memory the operator must stay under: about 70 MiB with every SA mirrored (debug
/// build), plus a response body of up to 8 MiB being read for each cluster at once, twice over
/// for buffer growth, plus headroom for what the allocator keeps.
pub const RSS_LIMIT_MIB: u64 = 200;
/// Counter refreshes are left at the default interval of the CRD.
pub const COUNTERS_REFRESH_MINUTES: usize = 15;

/// Poll attempts of one cluster in a minute: a retry every 5 s (the shortest backoff).
const ATTEMPTS_PER_MINUTE: usize = 60 / 5;

/// ONTAP requests of one cluster in a minute without short pages: each attempt reads
/// `/api/cluster`, one page (every SA fits in a page of 500) and, at most, one more page.
pub const ONTAP_REQUESTS_PER_CLUSTER_MINUTE: usize = ATTEMPTS_PER_MINUTE * 3;

/// The same in a minute when a fault cut pages short: `/api/cluster` and every page of the
/// largest listing cut into the shortest pages, plus the empty page that may end it.
pub const ONTAP_REQUESTS_PER_PAGED_CLUSTER_MINUTE: usize =
    ATTEMPTS_PER_MINUTE * (2 + MAX_SAS_PER_CLUSTER.div_ceil(MIN_SHORT_PAGE));

/// OntapCluster status writes in a minute: at most one per poll attempt, plus the stale turn.
pub const CLUSTER_STATUS_WRITES_PER_MINUTE: usize = CLUSTERS * (ATTEMPTS_PER_MINUTE + 1);

/// API writes in any minute (both kinds): every SA of every cluster turning Unknown once and back once
/// (`apply_status` each), the OntapCluster status writes below, three writes per record
/// change (create, status, delete), and counter refreshes spread over the second half of the
/// first refresh interval (so at most twice the steady rate).
pub const fn api_writes_per_minute_bound() -> usize {
    let transitions = CLUSTERS * 2 * MAX_SAS_PER_CLUSTER + CLUSTER_STATUS_WRITES_PER_MINUTE;
    let churn = 3 * (60 / CHURN_EVERY_MIN) as usize;
    let counters = 2 * CLUSTERS * MAX_SAS_PER_CLUSTER / COUNTERS_REFRESH_MINUTES + 1;
    transitions + churn + counters
}
