//! Tells the binary which commit and compiler built it, for `ontap_ipsec_build_info`.
//! The commit comes from `ONTAP_IPSEC_REVISION` (set by `make image` and the Dockerfile), not
//! from git, so that a new commit does not rebuild everything.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ONTAP_IPSEC_REVISION");
    let revision = std::env::var("ONTAP_IPSEC_REVISION")
        .ok()
        .filter(|revision| !revision.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ONTAP_IPSEC_REVISION={revision}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ONTAP_IPSEC_RUSTC={version}");
}
