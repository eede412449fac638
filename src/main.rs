//! Command-line entry point: `run`, `crds` and `poll`.

fn main() {}
