//! Helpers shared by the integration test targets; each target includes this module by path.

// Every test target compiles its own copy of this module and uses only part of it, so items a
// given target does not call would otherwise fail `clippy -D warnings` as dead code.
#![allow(dead_code)]

pub mod k8s;
pub mod wait;
