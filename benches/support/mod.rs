//! What every benchmark program shares: reading `/proc`, describing the machine, summarising
//! timings, and rewriting its own section of `docs/benchmarks.md`.

// Each benchmark program compiles its own copy and uses only part of it.
#![allow(dead_code)]

pub mod machine;
pub mod proc_stats;
pub mod report;
pub mod timing;
