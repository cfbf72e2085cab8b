//! The caller decision, fact by fact: what is recognised, and that nothing unknown is ever
//! taken for a local program.

use super::*;

const OUR_PAGE: &str = "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig";
const FOREIGN_PAGE: &str = "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const FIREFOX_PAGE: &str = "moz-extension://0f6c6b2e-8d6a-4a3e-9c1f-2b7d5e4a9c31";

fn ipc(origin: Option<&str>, legacy: bool, ours: &OurExtensions) -> Result<Who> {
    decide_ipc(
        IpcFacts {
            origin,
            legacy,
            smartpki: false,
        },
        ours,
        Language::En,
        Client::new(),
    )
    .map(|c| c.who().clone())
}

fn site(origin: &str, api: Api) -> Who {
    Who::Site {
        origin: Origin::parse(origin).unwrap(),
        api,
    }
}

#[test]
fn on_the_socket() {
    let ours = OurExtensions::default();
    assert_eq!(ipc(None, false, &ours).unwrap(), Who::LocalProgram);
    assert_eq!(
        ipc(Some("https://www.example.gov.tw"), false, &ours).unwrap(),
        site("https://www.example.gov.tw", Api::CardAgent)
    );
    assert_eq!(
        ipc(Some("https://www.example.gov.tw"), true, &ours).unwrap(),
        site("https://www.example.gov.tw", Api::HiPki)
    );
    // Our extension's pages, by our IDs only (with or without the trailing slash).
    assert_eq!(
        ipc(Some(OUR_PAGE), false, &ours).unwrap(),
        Who::OwnExtensionPage
    );
    assert_eq!(
        ipc(Some(&format!("{OUR_PAGE}/")), false, &ours).unwrap(),
        Who::OwnExtensionPage
    );
    assert_eq!(
        ipc(Some(FIREFOX_PAGE), false, &ours).unwrap(),
        Who::OwnExtensionPage
    );
    // A configured extension (a store build) is ours too.
    let configured = OurExtensions::new(&[format!("{FOREIGN_PAGE}/")]);
    assert_eq!(
        ipc(Some(FOREIGN_PAGE), false, &configured).unwrap(),
        Who::OwnExtensionPage
    );
    // Refused, never local: a foreign extension, a malformed extension origin, an origin
    // that does not parse, a legacy call without a page, an extension page's legacy call.
    for (origin, legacy) in [
        (Some(FOREIGN_PAGE), false),
        (
            Some("chrome-extension://HCCJMIBLNOKAPOAMFKGNBBIGHMNFPOIG"),
            false,
        ),
        (Some("chrome-extension://"), false),
        (Some("moz-extension://not-a-uuid"), false),
        (
            Some("moz-extension://0F6C6B2E-8D6A-4A3E-9C1F-2B7D5E4A9C31"),
            false,
        ),
        (Some("null"), false),
        (Some(""), false),
        (Some("https://a.gov.tw/path"), false),
        (Some("file:///home/user/page.html"), false),
        (None, true),
        (Some(OUR_PAGE), true),
        (Some(FIREFOX_PAGE), true),
    ] {
        let who = ipc(origin, legacy, &ours);
        assert!(who.is_err(), "{origin:?} legacy={legacy}: {who:?}");
    }
}

#[test]
fn what_the_native_host_relays() {
    let chromium = BrowserCaller::Chromium(DEV_EXTENSION_ID.to_owned());
    let firefox = BrowserCaller::Firefox(FIREFOX_ADDON_ID.to_owned());
    for started_by in [&chromium, &firefox] {
        assert!(check_relayed_origin(started_by, "https://www.example.gov.tw").is_ok());
    }
    // An extension origin passes only from the extension the browser started the host for.
    assert!(check_relayed_origin(&chromium, OUR_PAGE).is_ok());
    assert!(check_relayed_origin(&chromium, FOREIGN_PAGE).is_err());
    assert!(check_relayed_origin(&chromium, FIREFOX_PAGE).is_err());
    assert!(check_relayed_origin(&firefox, FIREFOX_PAGE).is_ok());
    assert!(check_relayed_origin(&firefox, OUR_PAGE).is_err());
    assert!(check_relayed_origin(&firefox, "moz-extension://x").is_err());
}

#[test]
fn on_the_legacy_port() {
    let decide = |facts: LegacyFacts<'_>| {
        decide_legacy(facts, Language::En, Client::new()).map(|c| c.who().clone())
    };
    let port = 61161;
    let base = LegacyFacts {
        port,
        ..LegacyFacts::default()
    };
    // No Origin: a local program, a no-cors request, an old browser: nobody we know.
    assert!(decide(base).is_err());
    let referred = LegacyFacts {
        referer: Some(b"https://www.example.gov.tw/"),
        ..base
    };
    assert!(decide(referred).is_err(), "a Referer never makes a caller");
    let cross = LegacyFacts {
        sec_fetch: true,
        sec_fetch_site: Some(b"cross-site"),
        ..base
    };
    assert!(decide(cross).is_err());
    let same = LegacyFacts {
        sec_fetch: true,
        sec_fetch_site: Some(b"same-origin"),
        ..base
    };
    assert_eq!(decide(same).unwrap(), Who::OwnLegacyPage);
    // Origin headers.
    let with_origin = |o: &'static [u8]| LegacyFacts {
        origin: Some(o),
        ..base
    };
    assert_eq!(
        decide(with_origin(b"https://www.example.gov.tw")).unwrap(),
        site("https://www.example.gov.tw", Api::HiPki)
    );
    assert_eq!(
        decide(with_origin(b"http://127.0.0.1:61161")).unwrap(),
        Who::OwnLegacyPage
    );
    for bad in [&b"null"[..], b"", b"\xff\xfe", b"https://a.gov.tw/x"] {
        assert!(decide(with_origin(bad)).is_err(), "{bad:?}");
    }
    // Our popup bridge speaks for its opener; an opener that does not parse is refused.
    let bridge = |opener: &'static [u8]| LegacyFacts {
        origin: Some(b"http://localhost:61161"),
        opener: Some(opener),
        ..base
    };
    assert_eq!(
        decide(bridge(b"https://www.example.gov.tw")).unwrap(),
        site("https://www.example.gov.tw", Api::HiPki)
    );
    for bad in [&b"null"[..], b"", b"javascript:alert(1)"] {
        assert!(decide(bridge(bad)).is_err(), "{bad:?}");
    }
    // From any other origin the opener header means nothing.
    let forged = LegacyFacts {
        origin: Some(b"https://evil.example"),
        opener: Some(b"https://www.example.gov.tw"),
        ..base
    };
    assert_eq!(
        decide(forged).unwrap(),
        site("https://evil.example", Api::HiPki)
    );
}

#[test]
fn a_smartpki_port_message_is_a_smartpki_page() {
    let who = decide_ipc(
        IpcFacts {
            origin: Some("https://portal.example.gov.tw"),
            legacy: false,
            smartpki: true,
        },
        &OurExtensions::default(),
        Language::En,
        Client::new(),
    )
    .unwrap();
    assert_eq!(
        who.who(),
        &site("https://portal.example.gov.tw", Api::SmartPki)
    );
}

#[test]
fn local_only_and_own_only() {
    let local = Caller::local(Language::En);
    assert!(local.require_local("trusted-sites").is_ok());
    assert!(local.require_own().is_ok());
    let ours = OurExtensions::default();
    let own = decide_ipc(
        IpcFacts {
            origin: Some(OUR_PAGE),
            legacy: false,
            smartpki: false,
        },
        &ours,
        Language::En,
        Client::new(),
    )
    .unwrap();
    assert!(own.require_own().is_ok());
    assert!(matches!(
        own.require_local("trusted-sites"),
        Err(Error::LocalOnly { .. })
    ));
    let page = decide_ipc(
        IpcFacts {
            origin: Some("https://www.example.gov.tw"),
            legacy: false,
            smartpki: false,
        },
        &ours,
        Language::En,
        Client::new(),
    )
    .unwrap();
    assert!(page.require_own().is_err());
    assert!(page.require_local("remove-trusted-site").is_err());
}
