//! Property tests of the parsers: the ONTAP JSON decoding and the simulator's query handling
//! never panic, whatever they are given. Case counts are bounded so the target runs in seconds.

mod decoding;
mod served_records;
mod simulator_queries;
mod strategies;
