//! The scenarios the benchmark knows and the targets each is judged on: `make bench` runs the
//! three that are not fleet scenarios, `make bench-fleet` the fleet one.

use std::time::Duration;

use crate::scenario::{Scenario, Targets};

const MIB: u64 = 1024 * 1024;

pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "1-cluster-1k",
        clusters: 1,
        nodes: 5,
        tunnels: 100,
        naive: true,
        fleet: false,
        targets: Targets {
            peak_rss: Some(40 * MIB),
            ..Targets::NONE
        },
    },
    Scenario {
        name: "1-cluster-10k",
        clusters: 1,
        nodes: 50,
        tunnels: 100,
        naive: true,
        fleet: false,
        targets: Targets {
            first_mirror_vs_create: Some(2.0),
            peak_rss: Some(100 * MIB),
            round_cpu: Some(Duration::from_millis(500)),
            ..Targets::NONE
        },
    },
    Scenario {
        name: "50-clusters-200",
        clusters: 50,
        nodes: 1,
        tunnels: 100,
        naive: true,
        fleet: false,
        targets: Targets {
            first_mirror_vs_create: Some(2.0),
            peak_rss: Some(150 * MIB),
            round_cpu: Some(Duration::from_millis(500)),
            ..Targets::NONE
        },
    },
    // The naive baseline would rewrite 100,000 objects per round of polls: over an hour here.
    Scenario {
        name: "100-clusters-1k",
        clusters: 100,
        nodes: 5,
        tunnels: 100,
        naive: false,
        fleet: true,
        targets: Targets {
            first_mirror_vs_create_status: Some(1.2),
            peak_rss: Some(400 * MIB),
            steady_rss: Some(300 * MIB),
            round_cpu: Some(Duration::from_secs(2)),
            ..Targets::NONE
        },
    },
];

/// The scenarios the allocator matrix compares by default.
pub const ALLOCATOR_SCENARIOS: [&str; 2] = ["1-cluster-1k", "1-cluster-10k"];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    SCENARIOS.into_iter().find(|scenario| scenario.name == name)
}
