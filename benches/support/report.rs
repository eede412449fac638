//! Rewrites one benchmark's section of `docs/benchmarks.md`, keeping the other sections as they are.

use std::io;
use std::path::PathBuf;

/// The results file, relative to the repository root.
pub const RESULTS_FILE: &str = "docs/benchmarks.md";
const TITLE: &str = "# Benchmarks\n\n\
Figures written by `make bench-ontap` and `make bench`; each run replaces its own section. \
How the programs measure is in `benches/`.\n";

/// The repository root, wherever cargo runs the benchmark from.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` with `body`, or adds
/// the section at the end when it is not there yet. Returns the path written.
pub fn write_section(name: &str, body: &str) -> io::Result<PathBuf> {
    let path = repo_root().join(RESULTS_FILE);
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| TITLE.to_owned());
    let updated = replace_section(&existing, name, body);
    std::fs::write(&path, updated)?;
    Ok(path)
}

fn replace_section(text: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let section = format!("{start}\n{}\n{end}", body.trim_end());
    match (text.find(&start), text.find(&end)) {
        (Some(from), Some(to)) if to > from => {
            format!("{}{section}{}", &text[..from], &text[to + end.len()..])
        }
        _ => format!("{}\n\n{section}\n", text.trim_end()),
    }
}

/// `10000` as `10,000`.
pub fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
