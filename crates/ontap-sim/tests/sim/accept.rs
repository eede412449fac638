//! `Accept: application/json` drops `_links` except `next`; `application/hal+json` keeps them.

use http::header::ACCEPT;
use reqwest::Method;

use crate::support::{SECURITY_ASSOCIATIONS, Sim, four_records, send, uuid};

#[tokio::test]
async fn hal_json_is_the_default_and_keeps_every_link() {
    let sim = Sim::with_records(four_records()).await;
    for accept in [None, Some("application/hal+json"), Some("*/*")] {
        let mut request = sim.request(
            Method::GET,
            &format!("{SECURITY_ASSOCIATIONS}?fields=*&max_records=1"),
        );
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        let reply = send(request).await;
        assert_eq!(
            reply.content_type.as_deref(),
            Some("application/hal+json"),
            "{accept:?}"
        );
        assert!(reply.body["_links"]["self"]["href"].is_string());
        assert!(reply.body["_links"]["next"]["href"].is_string());
        let record = &reply.records()[0];
        assert!(record["_links"]["self"]["href"].is_string());
        assert!(record["node"]["_links"]["self"]["href"].is_string());
    }
}

#[tokio::test]
async fn plain_json_drops_links_but_keeps_next() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(
        sim.request(
            Method::GET,
            &format!("{SECURITY_ASSOCIATIONS}?fields=*&max_records=1"),
        )
        .header(ACCEPT, "application/json"),
    )
    .await;
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert!(reply.body["_links"].get("self").is_none(), "{}", reply.text);
    assert!(reply.body["_links"]["next"]["href"].is_string());
    assert!(!reply.text.contains("\"self\""), "{}", reply.text);
    assert_eq!(reply.records()[0]["node"]["name"], "n1");
}

#[tokio::test]
async fn plain_json_instance_has_no_links_at_all() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(
        sim.request(
            Method::GET,
            &format!("{SECURITY_ASSOCIATIONS}/{}", uuid("a")),
        )
        .header(ACCEPT, "application/json"),
    )
    .await;
    assert!(!reply.text.contains("_links"), "{}", reply.text);
    assert_eq!(reply.body["uuid"], uuid("a"));
}

#[tokio::test]
async fn errors_use_the_negotiated_content_type() {
    let sim = Sim::with_records(four_records()).await;
    let hal = sim.collection("colour=blue").await;
    assert_eq!(hal.content_type.as_deref(), Some("application/hal+json"));
    let json = send(
        sim.request(Method::GET, &format!("{SECURITY_ASSOCIATIONS}?colour=blue"))
            .header(ACCEPT, "application/json"),
    )
    .await;
    assert_eq!(json.content_type.as_deref(), Some("application/json"));
    assert_eq!(json.body["error"]["code"], "262179");
}
