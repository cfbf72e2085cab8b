//! The tray as a StatusNotifierItem on a private D-Bus session with a real tray host under
//! Xvfb, against the real daemon, queried and clicked over D-Bus the way a panel does it.

use std::time::Duration;

use card_agent_testbed::user_session::{wait_until, UserSession};
use serde_json::json;

const SITE_A: &str = "https://www.example.gov.tw";
const SITE_B: &str = "https://e-service.city.gov.tw";

/// The properties a panel reads, from the item the watcher registered.
struct Item<'a> {
    session: &'a UserSession,
    name: String,
}

impl Item<'_> {
    fn find(session: &UserSession) -> Item<'_> {
        let mut name = String::new();
        wait_until(Duration::from_secs(40), "the tray's item", || {
            let items = session
                .gdbus_property(
                    "org.kde.StatusNotifierWatcher",
                    "/StatusNotifierWatcher",
                    "org.kde.StatusNotifierWatcher",
                    "RegisteredStatusNotifierItems",
                )
                .unwrap_or_default();
            // (<['org.kde.StatusNotifierItem-1234-1']>,)
            match items.split('\'').nth(1) {
                Some(n) if n.starts_with("org.kde.StatusNotifierItem-") => {
                    name = n.to_owned();
                    true
                }
                _ => false,
            }
        });
        Item { session, name }
    }

    fn get(&self, property: &str) -> String {
        self.session
            .gdbus_property(
                &self.name,
                "/StatusNotifierItem",
                "org.kde.StatusNotifierItem",
                property,
            )
            .unwrap_or_else(|| panic!("cannot read {property} of {}", self.name))
    }

    fn wait_for_tooltip(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        wait_until(Duration::from_secs(40), what, || {
            last = self.get("ToolTip");
            wanted(&last)
        });
        last
    }

    /// The dbusmenu layout, as gdbus prints it.
    fn menu(&self) -> String {
        self.session
            .gdbus(&[
                "--dest",
                &self.name,
                "--object-path",
                "/MenuBar",
                "--method",
                "com.canonical.dbusmenu.GetLayout",
                "--",
                "0",
                "-1",
                "[]",
            ])
            .expect("the item's menu")
    }

    /// Clicks the menu item with `label` that comes after `after` in the layout.
    fn click(&self, after: &str, label: &str) {
        let layout = self.menu();
        let start = layout
            .find(after)
            .unwrap_or_else(|| panic!("{after} not in the menu: {layout}"));
        let at = start
            + layout[start..]
                .find(&format!("'label': <'{label}'>"))
                .unwrap_or_else(|| panic!("no {label} after {after}: {layout}"));
        // Each item is `(ID, {'label': ...`: the id is the number before the nearest `, {`.
        let before = &layout[..at];
        let open = before.rfind(", {").expect("item start");
        let id: String = before[..open]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        self.session
            .gdbus(&[
                "--dest",
                &self.name,
                "--object-path",
                "/MenuBar",
                "--method",
                "com.canonical.dbusmenu.Event",
                "--",
                &id,
                "clicked",
                "<0>",
                "0",
            ])
            .unwrap_or_else(|| panic!("clicking item {id} ({label})"));
    }
}

#[test]
fn the_tray_shows_the_daemons_state_on_a_real_tray_host_and_follows_it() {
    let mut session = UserSession::new();
    session.start_desktop();
    session.write_trusted_sites(&[SITE_A, SITE_B]);
    let first_daemon = session.start_demo_daemon();
    let tray = session.agent(&["tray"]);
    session.spawn("tray", tray);

    let item = Item::find(&session);
    let tooltip = item.wait_for_tooltip("the demo card", |t| t.contains("Card ready"));
    assert!(
        tooltip.contains("DEMO 示範用戶 · Citizen certificate (MOICA) [DEMO, not a real card]"),
        "{tooltip}"
    );
    assert!(tooltip.contains("days left"), "{tooltip}");
    assert_eq!(item.get("Status").trim(), "(<'Active'>,)");
    assert_eq!(item.get("Title").trim(), "(<'card-agent'>,)");
    let pixmaps = item.get("IconPixmap");
    for size in [16, 22, 24, 32, 48, 64] {
        assert!(
            pixmaps.contains(&format!("({size}, {size}, [")),
            "no {size}px icon"
        );
    }
    // The green of the check mark is in the icon (ARGB, opaque).
    assert!(pixmaps.contains("0xff, 0x2e, 0x7d, 0x32"), "no green pixel");

    let menu = item.menu();
    for label in [
        "Card ready",
        "Environment check",
        "Self-test page",
        "Trusted sites",
        "Open log folder",
        "Quit",
        SITE_A,
        SITE_B,
    ] {
        assert!(menu.contains(&format!("'{label}")), "{label} not in {menu}");
    }
    if let Some(dir) = std::env::var_os("CARD_AGENT_SCREENSHOT_DIR") {
        session.screenshot(&std::path::Path::new(&dir).join("tray-card-ready.png"));
    }

    // Remove a trusted site from the menu: the daemon forgets it and the menu follows.
    item.click(SITE_A, "Remove");
    wait_until(
        Duration::from_secs(20),
        "the site removed from the file",
        || session.trusted_sites_on_disk() == [SITE_B],
    );
    wait_until(Duration::from_secs(20), "the menu without the site", || {
        !item.menu().contains(SITE_A)
    });

    // The daemon dies: the tray says so or, as fast, starts a new daemon (serving real cards
    // now, not the demo token) and shows its state.
    session.kill("daemon");
    let tooltip = item.wait_for_tooltip("the state after the daemon died", |t| !t.contains("DEMO"));
    assert!(
        [
            "The card-agent service is not available",
            "No card reader",
            "No card in the reader",
            "The smart card service is not running",
            "The card in the reader cannot be read",
        ]
        .iter()
        .any(|h| tooltip.contains(h)),
        "{tooltip}"
    );
    wait_until(
        Duration::from_secs(30),
        "a daemon started by the tray",
        || {
            session
                .daemon_pid()
                .is_some_and(|pid| pid != first_daemon && daemon_answers(&session))
        },
    );
    let tooltip = item.wait_for_tooltip("the new daemon's state", |t| !t.contains("not available"));
    assert!(!tooltip.contains("DEMO"), "{tooltip}");

    // Quit from the menu ends the tray, not the daemon.
    let daemon = session.daemon_pid();
    item.click("Open log folder", "Quit");
    wait_until(Duration::from_secs(20), "the item gone", || {
        session
            .gdbus_property(
                "org.kde.StatusNotifierWatcher",
                "/StatusNotifierWatcher",
                "org.kde.StatusNotifierWatcher",
                "RegisteredStatusNotifierItems",
            )
            .is_some_and(|v| !v.contains("StatusNotifierItem-"))
    });
    assert!(daemon_answers(&session), "the daemon keeps running");
    assert_eq!(session.daemon_pid(), daemon);
    let log = session.log("tray");
    assert!(!log.contains("panicked"), "{log}");
}

/// Whether the session's daemon answers `version` now.
fn daemon_answers(session: &UserSession) -> bool {
    std::os::unix::net::UnixStream::connect(session.socket()).is_ok()
        && session.request(&json!({"id": 1, "command": "version"}))["result"]["name"]
            == "card-agent"
}
