//! Gives each test a fresh namespace of its own and deletes it afterwards.

use std::fmt;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client};

/// Marks namespaces made by tests, so leftovers are easy to find and remove by label.
pub const TEST_NAMESPACE_LABEL: &str = "ontap-ipsec-operator.test/namespace";
const TEST_NAMESPACE_LABEL_VALUE: &str = "true";
/// A namespace name is a DNS label of at most 63 characters; the prefix leaves room for a suffix.
const MAX_PREFIX_LEN: usize = 50;
const SUFFIX_LEN: usize = 8;

/// A namespace that exists for one test. Call [`TestNamespace::cleanup`] at the end of the test;
/// if the test panics first, dropping it asks kubectl to delete the namespace.
pub struct TestNamespace {
    client: Client,
    name: String,
    deleted: bool,
}

impl TestNamespace {
    /// Creates a namespace named `<prefix>-<random>`; the prefix is lower-cased and `_` becomes `-`
    /// so a test's function name can be passed as is.
    pub async fn create(client: &Client, prefix: &str) -> Self {
        let name = unique_name(prefix);
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    [(
                        TEST_NAMESPACE_LABEL.to_owned(),
                        TEST_NAMESPACE_LABEL_VALUE.to_owned(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|error| panic!("cannot create namespace {name}: {error}"));
        Self {
            client: client.clone(),
            name,
            deleted: false,
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests deletion of the namespace (the namespace controller then empties and removes it
    /// in the background); a namespace that is already gone is fine.
    pub async fn cleanup(mut self) {
        self.deleted = true;
        match Api::<Namespace>::all(self.client.clone())
            .delete(&self.name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => panic!("cannot delete namespace {}: {error}", self.name),
        }
    }
}

impl fmt::Debug for TestNamespace {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down, so use kubectl; a
        // failure is only reported because panicking while a failed test unwinds aborts the run.
        let result = super::kubectl_command()
            .args([
                "delete",
                "namespace",
                self.name.as_str(),
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
        match result {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "cannot delete namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => eprintln!("cannot delete namespace {}: {error}", self.name),
        }
    }
}

/// `<prefix>-<8 random hex digits>`, a valid DNS label.
fn unique_name(prefix: &str) -> String {
    let mut sanitized: String = prefix
        .chars()
        .map(|character| match character.to_ascii_lowercase() {
            valid @ ('a'..='z' | '0'..='9' | '-') => valid,
            _ => '-',
        })
        .take(MAX_PREFIX_LEN)
        .collect();
    sanitized = sanitized.trim_matches('-').to_owned();
    if sanitized.is_empty() {
        sanitized.push_str("test");
    }
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{sanitized}-{}", &suffix[..SUFFIX_LEN])
}
