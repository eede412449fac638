//! The `ontap-sim` binary: serves the ONTAP REST simulator.

fn main() {}
