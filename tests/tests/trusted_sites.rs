//! The trusted-site commands for local clients (the tray), through the real daemon: listed and
//! removed in memory and in the file at once, and refused to anything carrying a page's origin.

use card_agent_testbed::user_session::UserSession;
use serde_json::json;

const SITE_A: &str = "https://www.example.gov.tw";
const SITE_B: &str = "https://e-service.city.gov.tw";

#[test]
fn trusted_sites_are_listed_and_removed_through_the_daemon_for_local_clients_only() {
    let session = UserSession::new();
    session.write_trusted_sites(&[SITE_A, SITE_B]);
    session.start_demo_daemon();

    let list = session.request(&json!({"id": 1, "command": "trusted-sites"}));
    assert_eq!(
        list,
        json!({"id": 1, "result": {"sites": [
            {"origin": SITE_A, "approvedAt": "2025-01-31T08:00:00Z"},
            {"origin": SITE_B, "approvedAt": "2025-01-31T08:00:00Z"}
        ], "configured": []}})
    );

    // A page (any request with an origin) can neither read nor change the list.
    for request in [
        json!({"id": 2, "command": "trusted-sites", "origin": SITE_A}),
        json!({"id": 3, "command": "remove-trusted-site", "origin": SITE_A,
               "arguments": {"site": SITE_A}}),
    ] {
        let refused = session.request(&request);
        assert_eq!(refused["error"]["code"], "BAD_REQUEST", "{refused}");
        assert_eq!(refused["error"]["field"], "origin", "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not for web pages"),
            "{refused}"
        );
    }
    assert_eq!(session.trusted_sites_on_disk(), [SITE_A, SITE_B]);

    // The user removes one: memory and file agree at once.
    let removed = session.request(&json!({"id": 4, "command": "remove-trusted-site",
                                          "arguments": {"site": SITE_A}}));
    assert_eq!(removed, json!({"id": 4, "result": {"removed": true}}));
    assert_eq!(session.trusted_sites_on_disk(), [SITE_B]);
    let list = session.request(&json!({"id": 5, "command": "trusted-sites"}));
    assert_eq!(list["result"]["sites"].as_array().unwrap().len(), 1);
    assert_eq!(list["result"]["sites"][0]["origin"], SITE_B);

    let again = session.request(&json!({"id": 6, "command": "remove-trusted-site",
                                        "arguments": {"site": SITE_A}}));
    assert_eq!(again, json!({"id": 6, "result": {"removed": false}}));

    let malformed = session.request(&json!({"id": 7, "command": "remove-trusted-site",
                                            "arguments": {"site": "not-an-origin"}}));
    assert_eq!(malformed["error"]["code"], "BAD_REQUEST", "{malformed}");
    assert_eq!(session.trusted_sites_on_disk(), [SITE_B]);
}
