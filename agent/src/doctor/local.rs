//! The checks of card-agent's own parts on this computer: the daemon, the legacy port, the
//! browsers' registration of the native host and the extension's last visit.

use card_agent_protocol::Language;

use super::gather::HostFacts;
use super::probe::{DaemonFacts, PortFacts};
use super::{date, f, item, t, Check, Fix, Item, Status};
use crate::install::{layout, Browser, Os, Sandbox, Scope};

/// `daemon`: is `card-agent serve` running for this user, and is it this version?
pub(super) fn daemon(facts: &DaemonFacts, lang: Language) -> Check {
    let id = "daemon";
    let ours = env!("CARGO_PKG_VERSION");
    match facts {
        DaemonFacts::Running { version, socket } if version == ours => Check::new(
            id,
            lang,
            Status::Ok,
            f(
                lang,
                "doctor.daemon.ok",
                &[("version", version), ("socket", socket)],
            ),
        ),
        DaemonFacts::Running { version, .. } => Check::new(
            id,
            lang,
            Status::Warning,
            f(
                lang,
                "doctor.daemon.other_version",
                &[("running", version), ("version", &ours)],
            ),
        ),
        // The browser starts the daemon when a page needs it, so a stopped daemon is normal;
        // only pages that call the old HiPKI address need it running beforehand.
        DaemonFacts::NotRunning { socket } => Check::new(
            id,
            lang,
            Status::Warning,
            f(lang, "doctor.daemon.not_running", &[("socket", socket)]),
        )
        .with_fix(Some(start_daemon(lang))),
        DaemonFacts::Broken { socket, reason } => Check::new(
            id,
            lang,
            Status::Failed,
            f(
                lang,
                "doctor.daemon.broken",
                &[("socket", socket), ("reason", reason)],
            ),
        ),
    }
}

fn start_daemon(lang: Language) -> Fix {
    Fix::Action {
        id: super::fix::START_DAEMON,
        label: t(lang, "doctor.fix.start_daemon"),
    }
}

/// `legacy-port`: does card-agent own the address old pages call (127.0.0.1:61161)?
/// `daemon_running` tells a card-agent of this user's from one of another session or user
/// holding the address.
pub(super) fn legacy_port(
    facts: &PortFacts,
    daemon_running: bool,
    config_file: &str,
    lang: Language,
) -> Check {
    let id = "legacy-port";
    match facts {
        PortFacts::Disabled => Check::new(id, lang, Status::Ok, t(lang, "doctor.legacy.disabled")),
        PortFacts::BadAddress { address } => Check::new(
            id,
            lang,
            Status::Failed,
            f(lang, "doctor.legacy.bad_address", &[("address", address)]),
        )
        .with_fix(Some(Fix::Setting {
            label: t(lang, "doctor.legacy.fix_setting"),
            key: "http_listen".to_owned(),
            value: format!("\"{}\"", crate::config::DEFAULT_HTTP_LISTEN),
            file: config_file.to_owned(),
        })),
        PortFacts::Ours { address } if daemon_running => Check::new(
            id,
            lang,
            Status::Ok,
            f(lang, "doctor.legacy.ok", &[("address", address)]),
        ),
        PortFacts::Ours { address } => Check::new(
            id,
            lang,
            Status::Warning,
            f(
                lang,
                "doctor.legacy.other_instance",
                &[("address", address)],
            ),
        ),
        PortFacts::Other {
            address,
            holder: Some(holder),
        } => Check::new(
            id,
            lang,
            Status::Failed,
            f(
                lang,
                "doctor.legacy.taken_by",
                &[("address", address), ("holder", holder)],
            ),
        ),
        PortFacts::Other {
            address,
            holder: None,
        } => Check::new(
            id,
            lang,
            Status::Failed,
            f(lang, "doctor.legacy.taken", &[("address", address)]),
        ),
        PortFacts::Free { address } => Check::new(
            id,
            lang,
            Status::Warning,
            f(lang, "doctor.legacy.free", &[("address", address)]),
        )
        .with_fix(Some(start_daemon(lang))),
    }
}

/// A browser's name as people know it.
fn browser_name(browser: Browser) -> &'static str {
    match browser {
        Browser::Chrome => "Google Chrome",
        Browser::Chromium => "Chromium",
        Browser::Edge => "Microsoft Edge",
        Browser::Brave => "Brave",
        Browser::Firefox => "Firefox",
    }
}

/// `native-host`: is card-agent registered with every browser this user has, and has the
/// extension ever connected?
pub(super) fn native_host(facts: &HostFacts, now: i64, lang: Language) -> Check {
    let id = "native-host";
    let Some(registrations) = &facts.registrations else {
        return Check::new(
            id,
            lang,
            Status::Warning,
            t(lang, "doctor.native_host.no_home"),
        );
    };
    let mut items: Vec<Item> = registrations
        .iter()
        .filter(|r| r.scope == Scope::User && r.installed)
        .map(|r| {
            let browser = browser_name(r.browser);
            // A package's system-wide manifest serves the native browser of every user; a
            // sandboxed browser sees only the manifests inside its sandbox.
            let system = registrations.iter().find(|s| {
                s.scope == Scope::System
                    && s.browser == r.browser
                    && s.registered
                    && r.sandbox == Sandbox::Native
            });
            if r.sandbox != Sandbox::Native {
                let sandbox = r.sandbox.name();
                if !r.registered {
                    return item(
                        Status::Failed,
                        f(
                            lang,
                            "doctor.native_host.item_sandbox_missing",
                            &[("browser", &browser), ("sandbox", &sandbox)],
                        ),
                    );
                }
                let hint = layout::for_os(Os::current(), Scope::User)
                    .into_iter()
                    .find(|l| l.browser == r.browser && l.sandbox == r.sandbox)
                    .map(|l| {
                        let exe = r.exe.clone().unwrap_or_else(|| "card-agent".into());
                        crate::install::user::sandbox_hint(&l, &exe, lang)
                    })
                    .unwrap_or_default();
                return item(
                    Status::Warning,
                    f(
                        lang,
                        "doctor.native_host.item_sandboxed",
                        &[
                            ("browser", &browser),
                            ("sandbox", &sandbox),
                            ("file", &r.manifest.display()),
                            ("hint", &hint),
                        ],
                    ),
                );
            }
            match (r.registered, system) {
                (true, _) => item(
                    Status::Ok,
                    f(
                        lang,
                        "doctor.native_host.item_registered",
                        &[("browser", &browser), ("file", &r.manifest.display())],
                    ),
                ),
                (false, Some(system)) => item(
                    Status::Ok,
                    f(
                        lang,
                        "doctor.native_host.item_system",
                        &[("browser", &browser), ("file", &system.manifest.display())],
                    ),
                ),
                (false, None) => item(
                    Status::Failed,
                    f(
                        lang,
                        "doctor.native_host.item_missing",
                        &[("browser", &browser)],
                    ),
                ),
            }
        })
        .collect();
    if items.is_empty() {
        items.push(item(
            Status::Warning,
            t(lang, "doctor.native_host.item_no_browser"),
        ));
    }
    let unregistered = items.iter().any(|i| i.status == Status::Failed);
    match &facts.last_seen {
        Some(seen) => {
            let days = (now - seen.unix).max(0) / 86_400;
            items.push(item(
                Status::Ok,
                f(
                    lang,
                    "doctor.native_host.item_seen",
                    &[
                        ("date", &date(seen.unix)),
                        ("days", &days),
                        ("caller", &seen.caller),
                    ],
                ),
            ));
        }
        None => items.push(item(
            Status::Warning,
            t(lang, "doctor.native_host.item_never_seen"),
        )),
    }
    let key = if unregistered {
        "doctor.native_host.failed"
    } else if facts.last_seen.is_none() {
        "doctor.native_host.never_seen"
    } else {
        "doctor.native_host.ok"
    };
    let fix = unregistered.then(|| Fix::Action {
        id: super::fix::REGISTER_HOST,
        label: t(lang, "doctor.fix.install_user"),
    });
    Check::new(id, lang, Status::Ok, t(lang, key))
        .with_items(items)
        .with_fix(fix)
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::install::Registration;
    use crate::native_host::LastSeen;

    const EN: Language = Language::En;

    #[test]
    fn the_daemon_running_stopped_old_or_broken() {
        let socket = "/run/user/1000/card-agent/agent.sock".to_owned();
        let running = DaemonFacts::Running {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            socket: socket.clone(),
        };
        assert_eq!(daemon(&running, EN).status, Status::Ok);
        let old = DaemonFacts::Running {
            version: "0.0.1".to_owned(),
            socket: socket.clone(),
        };
        let check = daemon(&old, EN);
        assert_eq!(check.status, Status::Warning);
        assert!(check.explanation.contains("0.0.1"));
        let stopped = daemon(
            &DaemonFacts::NotRunning {
                socket: socket.clone(),
            },
            EN,
        );
        assert_eq!(stopped.status, Status::Warning);
        assert!(matches!(
            stopped.fix,
            Some(Fix::Action {
                id: "start-daemon",
                ..
            })
        ));
        let broken = DaemonFacts::Broken {
            socket,
            reason: "Permission denied".to_owned(),
        };
        assert_eq!(daemon(&broken, EN).status, Status::Failed);
    }

    #[test]
    fn the_legacy_port_ours_free_or_taken() {
        let address = "127.0.0.1:61161".to_owned();
        assert_eq!(
            legacy_port(
                &PortFacts::Ours {
                    address: address.clone()
                },
                true,
                "c",
                EN
            )
            .status,
            Status::Ok
        );
        let free = legacy_port(
            &PortFacts::Free {
                address: address.clone(),
            },
            true,
            "c",
            EN,
        );
        assert_eq!(free.status, Status::Warning);
        assert!(free.explanation.contains("not running"), "{free:#?}");
        let taken = legacy_port(
            &PortFacts::Other {
                address: address.clone(),
                holder: Some("HiPKILocalSignServer (pid 42)".to_owned()),
            },
            true,
            "c",
            EN,
        );
        assert_eq!(taken.status, Status::Failed);
        assert!(taken.explanation.contains("HiPKILocalSignServer (pid 42)"));
        let unknown = legacy_port(
            &PortFacts::Other {
                address,
                holder: None,
            },
            true,
            "c",
            EN,
        );
        assert_eq!(unknown.status, Status::Failed);
        assert_eq!(
            legacy_port(&PortFacts::Disabled, true, "c", EN).status,
            Status::Ok
        );
        // card-agent answers, but not this user's service: someone else's session.
        let elsewhere = PortFacts::Ours {
            address: "127.0.0.1:61161".to_owned(),
        };
        assert_eq!(
            legacy_port(&elsewhere, false, "c", EN).status,
            Status::Warning
        );
        let bad = legacy_port(
            &PortFacts::BadAddress {
                address: "0.0.0.0:61161".to_owned(),
            },
            true,
            "c",
            EN,
        );
        assert!(matches!(bad.fix, Some(Fix::Setting { key, .. }) if key == "http_listen"));
    }

    fn registration(browser: Browser, installed: bool, registered: bool) -> Registration {
        Registration {
            browser,
            sandbox: Sandbox::Native,
            scope: Scope::User,
            installed,
            exe: None,
            manifest: PathBuf::from(
                "/home/u/.config/chromium/NativeMessagingHosts/tw.card_agent.json",
            ),
            registered,
        }
    }

    #[test]
    fn system_manifests_count_and_sandboxed_browsers_are_told_what_they_need() {
        let now = 1_800_000_000;
        let system = Registration {
            scope: Scope::System,
            registered: true,
            manifest: PathBuf::from("/etc/chromium/native-messaging-hosts/tw.card_agent.json"),
            ..registration(Browser::Chromium, true, false)
        };
        let flatpak = Registration {
            sandbox: Sandbox::Flatpak,
            exe: Some(PathBuf::from("/home/u/.local/bin/card-agent")),
            ..registration(Browser::Firefox, true, true)
        };
        let facts = HostFacts {
            registrations: Some(vec![
                registration(Browser::Chromium, true, false),
                system,
                flatpak,
            ]),
            last_seen: None,
        };
        let check = native_host(&facts, now, EN);
        assert_eq!(check.status, Status::Warning, "{check:#?}");
        assert_eq!(check.items[0].status, Status::Ok);
        assert!(
            check.items[0].text.contains("every user"),
            "{:?}",
            check.items[0]
        );
        assert_eq!(check.items[1].status, Status::Warning);
        if Os::current() == Os::Linux {
            assert!(
                check.items[1]
                    .text
                    .contains("flatpak override --user --filesystem=/home/u/.local/bin:ro"),
                "{:?}",
                check.items[1]
            );
        }
        assert!(check.fix.is_none());

        let missing = HostFacts {
            registrations: Some(vec![Registration {
                sandbox: Sandbox::Flatpak,
                ..registration(Browser::Chrome, true, false)
            }]),
            last_seen: None,
        };
        let check = native_host(&missing, now, EN);
        assert_eq!(check.status, Status::Failed);
        assert!(check.items[0].text.contains("(flatpak)"), "{check:#?}");
        assert!(matches!(
            &check.fix,
            Some(Fix::Action { label, .. }) if label.contains("card-agent install --user")
        ));
    }

    #[test]
    fn browsers_without_the_host_fail_with_the_register_action() {
        let now = 1_800_000_000;
        let facts = HostFacts {
            registrations: Some(vec![
                registration(Browser::Chromium, true, false),
                registration(Browser::Firefox, false, false),
            ]),
            last_seen: None,
        };
        let check = native_host(&facts, now, EN);
        assert_eq!(check.status, Status::Failed);
        assert_eq!(check.items.len(), 2, "{check:#?}");
        assert!(check.items[0].text.contains("Chromium"));
        assert!(matches!(
            check.fix,
            Some(Fix::Action {
                id: "register-host",
                ..
            })
        ));

        let facts = HostFacts {
            registrations: Some(vec![registration(Browser::Chromium, true, true)]),
            last_seen: None,
        };
        let check = native_host(&facts, now, EN);
        assert_eq!(check.status, Status::Warning);
        assert!(check.explanation.contains("extension"), "{check:#?}");

        let facts = HostFacts {
            registrations: Some(vec![registration(Browser::Chromium, true, true)]),
            last_seen: Some(LastSeen {
                unix: now - 3 * 86_400,
                caller: "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig/".to_owned(),
            }),
        };
        let check = native_host(&facts, now, EN);
        assert_eq!(check.status, Status::Ok, "{check:#?}");
        assert!(check.items[1].text.contains("3 days ago"), "{check:#?}");

        let none = HostFacts {
            registrations: Some(vec![registration(Browser::Chrome, false, false)]),
            last_seen: None,
        };
        assert_eq!(native_host(&none, now, EN).status, Status::Warning);
    }
}
