//! Memory per mirrored SA: the slope of the operator's resident set after its steady-state
//! window against the SAs it mirrors, between runs of different sizes in one program run. The
//! slope leaves out what every size pays alike (code, runtime, TLS, the allocator's floor).

/// The target from the footprint issue.
pub const LIMIT_BYTES_PER_SA: f64 = 2048.0;

/// One measured size.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub name: &'static str,
    pub sas: usize,
    /// Resident set right after the steady-state window.
    pub rss: u64,
}

/// The slope from a smaller run to a larger one.
#[derive(Debug, Clone, Copy)]
pub struct Slope {
    pub from: Point,
    pub to: Point,
    pub bytes_per_sa: f64,
}

impl Slope {
    pub fn met(&self) -> bool {
        self.bytes_per_sa < LIMIT_BYTES_PER_SA
    }
}

/// Every pair of points with different SA counts, the smaller first; empty when fewer than two
/// sizes were measured.
pub fn between(points: &[Point]) -> Vec<Slope> {
    let mut slopes = Vec::new();
    for (index, first) in points.iter().enumerate() {
        for second in &points[index + 1..] {
            let (from, to) = if first.sas <= second.sas {
                (*first, *second)
            } else {
                (*second, *first)
            };
            if from.sas == to.sas {
                continue;
            }
            slopes.push(Slope {
                from,
                to,
                bytes_per_sa: (to.rss as f64 - from.rss as f64) / (to.sas - from.sas) as f64,
            });
        }
    }
    slopes
}

/// `1.53 KiB` for a slope in bytes.
pub fn kibibytes(bytes: f64) -> String {
    format!("{:.2} KiB", bytes / 1024.0)
}
