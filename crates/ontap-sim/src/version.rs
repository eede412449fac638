//! The ONTAP release the simulator impersonates, parsed from text like `9.14.1` or `9.16.1P3`.

use std::fmt;
use std::str::FromStr;

/// Build date shown in `version.full`; ONTAP prints one, its value does not matter to clients.
const RELEASE_DATE: &str = "Tue Jan 31 19:19:43 UTC 2023";

/// An ONTAP release: `generation.major.minor` plus an optional patch suffix such as `P3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OntapVersion {
    pub generation: u32,
    pub major: u32,
    pub minor: u32,
    /// Patch suffix exactly as written after the minor number (`P3`, `D12`), or empty.
    pub patch: String,
}

/// Why a version string could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    #[error(
        "invalid ontap version {value:?}: expected GENERATION.MAJOR[.MINOR][PATCH], e.g. 9.14.1"
    )]
    Invalid { value: String },
}

impl OntapVersion {
    /// A release without patch suffix.
    #[must_use]
    pub fn new(generation: u32, major: u32, minor: u32) -> Self {
        Self {
            generation,
            major,
            minor,
            patch: String::new(),
        }
    }

    /// True when this release is `generation.major.minor` or newer (patch levels ignored).
    #[must_use]
    pub fn is_at_least(&self, generation: u32, major: u32, minor: u32) -> bool {
        (self.generation, self.major, self.minor) >= (generation, major, minor)
    }

    /// The `version.full` text of `GET /api/cluster`.
    #[must_use]
    pub fn full(&self) -> String {
        format!("NetApp Release {self}: {RELEASE_DATE}")
    }
}

impl Default for OntapVersion {
    fn default() -> Self {
        Self::new(9, 14, 1)
    }
}

impl fmt::Display for OntapVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.generation, self.major, self.minor, self.patch
        )
    }
}

impl FromStr for OntapVersion {
    type Err = VersionError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || VersionError::Invalid {
            value: value.to_owned(),
        };
        let trimmed = value.trim();
        let numeric_end = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (numbers, patch) = trimmed.split_at(numeric_end);
        if !patch.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
        let parts = numbers
            .split('.')
            .map(str::parse::<u32>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid())?;
        match parts.as_slice() {
            [generation, major] => Ok(Self {
                generation: *generation,
                major: *major,
                minor: 0,
                patch: patch.to_owned(),
            }),
            [generation, major, minor] => Ok(Self {
                generation: *generation,
                major: *major,
                minor: *minor,
                patch: patch.to_owned(),
            }),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_part_version_parses() {
        let version: OntapVersion = "9.14.1".parse().expect("valid version");
        assert_eq!(version, OntapVersion::new(9, 14, 1));
        assert_eq!(version.to_string(), "9.14.1");
    }

    #[test]
    fn patch_suffix_is_kept_and_ignored_for_comparison() {
        let version: OntapVersion = "9.16.1P3".parse().expect("valid version");
        assert_eq!(version.patch, "P3");
        assert_eq!(version.to_string(), "9.16.1P3");
        assert!(version.is_at_least(9, 16, 1));
        assert!(!version.is_at_least(9, 16, 2));
    }

    #[test]
    fn two_part_version_means_minor_zero() {
        let version: OntapVersion = "9.8".parse().expect("valid version");
        assert_eq!(version, OntapVersion::new(9, 8, 0));
        assert!(version.is_at_least(9, 8, 0));
        assert!(!version.is_at_least(9, 11, 1));
    }

    #[test]
    fn garbage_is_rejected() {
        for value in ["", "9", "nine.14.1", "9.14.1.2", "9..1", "9.14.1-rc"] {
            assert!(value.parse::<OntapVersion>().is_err(), "{value} parsed");
        }
    }

    #[test]
    fn full_text_names_the_release() {
        assert!(
            OntapVersion::new(9, 12, 1)
                .full()
                .starts_with("NetApp Release 9.12.1: ")
        );
    }
}
