//! Whether an OntapCluster's spec asks for a transport that exposes credentials or lets an
//! impostor answer for ONTAP: plain HTTP, or TLS without verification. No client required.

use crate::crd::OntapClusterSpec;
use crate::crd::condition::{
    REASON_INSECURE_SKIP_VERIFY, REASON_PLAIN_HTTP, REASON_PLAIN_HTTP_ALLOWED, REASON_TLS_VERIFIED,
};

/// The judgement behind the `InsecureTransport` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    pub insecure: bool,
    pub reason: &'static str,
    pub message: &'static str,
}

/// Judges `spec`: plain HTTP first, since it exposes more than an unverified certificate does.
#[must_use]
pub fn transport(spec: &OntapClusterSpec) -> Transport {
    let plain_endpoint = spec
        .endpoint
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    if spec.allow_insecure_http && plain_endpoint {
        return Transport {
            insecure: true,
            reason: REASON_PLAIN_HTTP,
            message: "the endpoint is plain http://: the credentials and every SA cross the \
                      network in clear text",
        };
    }
    if spec
        .tls
        .as_ref()
        .is_some_and(|tls| tls.insecure_skip_verify)
    {
        return Transport {
            insecure: true,
            reason: REASON_INSECURE_SKIP_VERIFY,
            message: "tls.insecureSkipVerify is true: ONTAP's certificate is not verified, so \
                      anyone on the path can answer for ONTAP and receive the credentials",
        };
    }
    if spec.allow_insecure_http {
        return Transport {
            insecure: true,
            reason: REASON_PLAIN_HTTP_ALLOWED,
            message: "allowInsecureHttp is true: the endpoint may be changed to plain http:// \
                      without further review",
        };
    }
    Transport {
        insecure: false,
        reason: REASON_TLS_VERIFIED,
        message: "HTTPS with ONTAP's certificate verified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ontap_cluster::TlsSettings;

    fn spec(endpoint: &str) -> OntapClusterSpec {
        OntapClusterSpec::new(endpoint, "creds")
    }

    #[test]
    fn verified_https_is_secure() {
        let verdict = transport(&spec("https://cluster1"));
        assert!(!verdict.insecure);
        assert_eq!(verdict.reason, REASON_TLS_VERIFIED);
    }

    #[test]
    fn plain_http_unverified_tls_and_allowed_http_are_insecure() {
        let mut plain = spec("HTTP://cluster1");
        plain.allow_insecure_http = true;
        assert_eq!(transport(&plain).reason, REASON_PLAIN_HTTP);

        let mut unverified = spec("https://cluster1");
        unverified.tls = Some(TlsSettings {
            ca_secret_ref: None,
            server_name: None,
            insecure_skip_verify: true,
        });
        assert_eq!(transport(&unverified).reason, REASON_INSECURE_SKIP_VERIFY);

        let mut allowed = spec("https://cluster1");
        allowed.allow_insecure_http = true;
        let verdict = transport(&allowed);
        assert!(verdict.insecure);
        assert_eq!(verdict.reason, REASON_PLAIN_HTTP_ALLOWED);
    }
}
