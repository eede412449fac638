//! The allocator matrix: the operator's steady state on one mirrored estate under mimalloc, as
//! shipped and with its own defaults, and under glibc's malloc, as built and tuned.

use std::path::{Path, PathBuf};

use crate::api_server::ApiServer;
use crate::operator::{Mode, Operator, Program};
use crate::scenario::{self, Scenario, Window};

/// mimalloc 3.3's own defaults (libmimalloc-sys 0.1.49): freed pages go back to the system after
/// `purge_delay` (1000 ms), and arenas are committed eagerly on Linux (`arena_eager_commit` 2).
/// The operator sets both to 0 for itself unless the environment sets them (`src/main.rs`), so
/// these undo that.
const MIMALLOC_LIBRARY_DEFAULTS: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "1000"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "2"),
];
/// glibc gives each thread under contention an arena of its own (up to 8 per core) and raises
/// its trim threshold as it goes; two arenas, and a fixed 128 KiB threshold, keep less resident.
const GLIBC_TUNED: [(&str, &str); 2] = [
    ("MALLOC_ARENA_MAX", "2"),
    ("MALLOC_TRIM_THRESHOLD_", "131072"),
];

/// One allocator and its settings.
#[derive(Debug, Clone)]
pub struct Variant {
    pub allocator: &'static str,
    pub program: Program,
}

/// The four variants: mimalloc (the default build) as shipped and with the library's own
/// defaults, and glibc's malloc (the binary built with `--features system-allocator`) as built
/// and tuned.
pub fn variants(system_allocator_binary: &Path) -> Vec<Variant> {
    let mimalloc = Program::default();
    let glibc = |label, environment: &[(&'static str, &'static str)]| Program {
        label,
        binary: PathBuf::from(system_allocator_binary),
        environment: environment.to_vec(),
    };
    vec![
        Variant {
            allocator: "mimalloc",
            program: mimalloc.clone(),
        },
        Variant {
            allocator: "mimalloc",
            program: Program {
                label: "mimalloc-library-defaults",
                environment: MIMALLOC_LIBRARY_DEFAULTS.to_vec(),
                ..mimalloc
            },
        },
        Variant {
            allocator: "glibc malloc",
            program: glibc("glibc", &[]),
        },
        Variant {
            allocator: "glibc malloc",
            program: glibc("glibc-tuned", &GLIBC_TUNED),
        },
    ]
}

/// What one variant did in one scenario.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub variant: Variant,
    pub steady: Window,
    pub peak_rss: u64,
    /// Resident set right after the steady-state window.
    pub steady_rss: u64,
}

/// Mirrors `scenario` once with the default operator, then starts each variant on the complete
/// mirror in turn and measures its steady state; the namespace is deleted whatever happens.
pub async fn run(
    server: &ApiServer,
    scenario: Scenario,
    variants: &[Variant],
) -> anyhow::Result<Vec<Measurement>> {
    let clusters = scenario::records(scenario);
    let namespace = server
        .create_namespace(&format!("bench-allocators-{}", scenario.name))
        .await?;
    let measured = async {
        let simulators = scenario::serve(server, &namespace, &clusters).await?;
        let seed = Operator::start(
            &namespace,
            &server.kubeconfig,
            Mode::Product,
            &Program::default(),
        )
        .await?;
        let mirrored =
            scenario::mirror(server, scenario, &namespace, &clusters, &simulators).await?;
        seed.stop()?;
        let mut measurements = Vec::with_capacity(variants.len());
        for variant in variants {
            println!("  {}", variant.program.label);
            let operator = Operator::start(
                &namespace,
                &server.kubeconfig,
                Mode::Product,
                &variant.program,
            )
            .await?;
            let steady = scenario::steady_state(server, &operator, &mirrored, scenario).await?;
            let steady_rss = operator.rss();
            let peak_rss = operator.peak_rss();
            operator.stop()?;
            measurements.push(Measurement {
                variant: variant.clone(),
                steady,
                peak_rss,
                steady_rss,
            });
        }
        for simulator in simulators {
            simulator.shutdown().await;
        }
        anyhow::Ok(measurements)
    }
    .await;
    println!("  deleting namespace {namespace}");
    server
        .delete_namespace(&namespace, scenario.delete_timeout())
        .await?;
    measured
}
