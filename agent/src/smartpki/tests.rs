//! The SmartPKI adapter over a real service and the demo token (which counts PIN tries like a
//! card): the sample login chain, a wrong PIN then the right one, origins, ports.

use std::sync::Arc;

use card_agent_protocol::message::{Command, SmartPkiCallArgs, SmartPkiReply};
use card_agent_protocol::secret::SecretString;
use card_agent_protocol::Language;

use super::glue;
use super::message::style;
use super::pin_unwrap::tests::page_encrypt;
use super::ports::Ports;
use crate::card_core::{CardCore, CoreOptions};
use crate::config::PinEntry;
use crate::pinentry::Client;
use crate::policy::Policy;
use crate::service::caller::{decide_ipc, IpcFacts};
use crate::service::{Caller, OurExtensions, Service, Settings};
use rsa::RsaPublicKey;

const SITE: &str = "https://portal.example.gov.tw";

struct World {
    service: Service,
    caller: Caller,
    ports: Ports,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let core = Arc::new(
        CardCore::open(&CoreOptions {
            demo: true,
            ..CoreOptions::default()
        })
        .unwrap(),
    );
    let policy =
        Policy::load(&["https://*.example.gov.tw"], dir.path().join("sites.json")).unwrap();
    let service = Service::new(
        core,
        policy,
        Err("no dialog in unit tests".to_owned()),
        Settings {
            pin_entry: PinEntry::Auto,
            environment: None,
            extensions: OurExtensions::default(),
        },
    );
    World {
        service,
        caller: page(SITE),
        ports: Ports::default(),
        _dir: dir,
    }
}

impl World {
    fn open(&self) -> (u64, RsaPublicKey) {
        let open = glue::open(&self.service, &self.caller, &self.ports).unwrap();
        assert_eq!(open.version, "6.0.1.0");
        // The page encrypts with the modulus it was given: rebuild that public key here.
        let n = rsa::BigUint::parse_bytes(open.modulus.as_bytes(), 16).unwrap();
        let public = RsaPublicKey::new(n, rsa::BigUint::from(65_537u32)).unwrap();
        (open.port, public)
    }

    fn call(
        &self,
        port: u64,
        cmd: &str,
        edit: impl FnOnce(&mut SmartPkiCallArgs),
    ) -> SmartPkiReply {
        let mut args = SmartPkiCallArgs {
            port,
            request: "sign".to_owned(),
            cmd: Some(cmd.to_owned()),
            ..SmartPkiCallArgs::default()
        };
        edit(&mut args);
        glue::call(&self.service, &self.caller, &self.ports, args).unwrap()
    }

    fn tries_left(&self) -> Option<u8> {
        let cards = self.service.certificates(&self.caller).unwrap();
        cards[0].0.known_tries_left()
    }
}

/// A SmartPKI page's caller, as the daemon decides it for a `smartpki-*` request.
fn page(origin: &str) -> Caller {
    let facts = IpcFacts {
        origin: Some(origin),
        legacy: false,
        smartpki: true,
    };
    decide_ipc(
        facts,
        &OurExtensions::default(),
        Language::En,
        Client::new(),
    )
    .unwrap()
}

fn pin(key: &RsaPublicKey, pin: &str) -> Option<SecretString> {
    Some(page_encrypt(key, &format!("{pin}_PKI")))
}

#[test]
fn the_sample_login_chain_signs_and_openssl_can_read_it() {
    let w = world();
    let (port, key) = w.open();
    let info = glue::call(
        &w.service,
        &w.caller,
        &w.ports,
        SmartPkiCallArgs {
            port,
            request: "info".to_owned(),
            ..SmartPkiCallArgs::default()
        },
    )
    .unwrap();
    assert_eq!(info.error_code, 0);
    assert_eq!(info.info.unwrap().modulus.len(), 512);

    let ok = |r: &SmartPkiReply| assert_eq!(r.error_code, 0, "{}", r.error_message);
    ok(&w.call(port, "Initial", |a| {
        a.solt_index = Some(-1);
        a.driver_type = Some(1);
        a.style = Some(style::DETACHED | style::NOATTR);
    }));
    let loaded = w.call(port, "LoadCertificateByHca", |a| {
        a.pin = pin(&key, "123456")
    });
    ok(&loaded);
    let record = loaded.certificate.unwrap();
    assert_eq!(record.cert_type, 1);
    assert_eq!(record.name, "DEMO 示範用戶");
    ok(&w.call(port, "LoadContent", |a| {
        a.content = Some("login 登入".to_owned())
    }));
    ok(&w.call(port, "Sign", |a| {
        a.pin = pin(&key, "123456");
        a.sign_time = Some(0);
    }));
    let output = w.call(port, "Output", |a| a.format = Some(64));
    ok(&output);
    let der = card_agent_protocol::encoding::decode_base64(&output.return_value.unwrap()).unwrap();
    let info = <cms::content_info::ContentInfo as der::Decode>::from_der(&der).unwrap();
    assert_eq!(info.content_type, const_oid::db::rfc5911::ID_SIGNED_DATA);
    let all = w.call(port, "GetAll", |_| {});
    assert_eq!(all.certificate.unwrap(), record);
    // The company-card step is answered honestly.
    let user_data = w.call(port, "ReadUserData", |a| a.pin = pin(&key, "123456"));
    assert_eq!(user_data.error_code, 9107);
    ok(&w.call(port, "Close", |_| {}));
    assert_eq!(w.call(port, "GetAll", |_| {}).error_code, 9101);
}

#[test]
fn a_wrong_pin_costs_one_try_and_is_never_sent_again() {
    let w = world();
    let (port, key) = w.open();
    assert_eq!(w.tries_left(), Some(3));
    w.call(port, "Initial", |a| a.style = Some(style::DETACHED));
    // The chain the page runs, with a wrong PIN: LoadCertificateByHca fails at the card...
    let first = w.call(port, "LoadCertificateByHca", |a| {
        a.pin = pin(&key, "111111")
    });
    assert_eq!(first.error_code, 9008, "{}", first.error_message);
    assert!(
        first.error_message.contains("2 tries left"),
        "{}",
        first.error_message
    );
    assert_eq!(w.tries_left(), Some(2));
    // ...and however often the same PIN comes again (the page's Sign, the next click), the
    // card is not asked: the answer is the card's last word.
    for cmd in ["Sign", "LoadCertificateByHca", "Sign"] {
        w.call(port, "LoadContent", |a| a.content = Some("x".to_owned()));
        let again = w.call(port, cmd, |a| a.pin = pin(&key, "111111"));
        assert_eq!(again.error_code, 9008);
        assert!(again.error_message.contains("2 tries left"));
    }
    assert_eq!(w.tries_left(), Some(2));
    // A PIN in clear is the same PIN.
    let clear = w.call(port, "Sign", |a| a.pin = Some("111111".into()));
    assert_eq!(clear.error_code, 9008);
    assert_eq!(w.tries_left(), Some(2));
    // A malformed PIN never reaches the card either.
    let short = w.call(port, "LoadCertificateByHca", |a| a.pin = pin(&key, "12"));
    assert_eq!(short.error_code, 9010);
    assert_eq!(w.tries_left(), Some(2));
    // The right PIN works, and the card's count is back to full.
    let right = w.call(port, "LoadCertificateByHca", |a| {
        a.pin = pin(&key, "123456")
    });
    assert_eq!(right.error_code, 0, "{}", right.error_message);
    assert_eq!(w.tries_left(), Some(3));
}

#[test]
fn on_the_final_try_the_page_pin_is_not_used() {
    let w = world();
    let (port, key) = w.open();
    w.call(port, "Initial", |_| {});
    for wrong in ["111111", "222222"] {
        let r = w.call(port, "LoadCertificateByHca", |a| a.pin = pin(&key, wrong));
        assert_eq!(r.error_code, 9008, "{}", r.error_message);
    }
    assert_eq!(w.tries_left(), Some(1));
    // Even the right PIN from the page is not taken now: the agent's own dialog must ask, and
    // these tests have none, so the step fails without touching the card.
    let r = w.call(port, "LoadCertificateByHca", |a| {
        a.pin = pin(&key, "123456")
    });
    assert_eq!(r.error_code, 9011, "{}", r.error_message);
    w.call(port, "LoadContent", |a| a.content = Some("x".to_owned()));
    let r = w.call(port, "Sign", |a| a.pin = pin(&key, "333333"));
    assert_eq!(r.error_code, 9011, "{}", r.error_message);
    assert_eq!(w.tries_left(), Some(1));
}

#[test]
fn every_port_has_its_own_key() {
    let w = world();
    let a = glue::open(&w.service, &w.caller, &w.ports).unwrap();
    let b = glue::open(&w.service, &w.caller, &w.ports).unwrap();
    assert_ne!(a.port, b.port);
    assert_ne!(a.modulus, b.modulus);
    // A PIN encrypted for one port does not open on the other.
    let n = rsa::BigUint::parse_bytes(a.modulus.as_bytes(), 16).unwrap();
    let for_a = RsaPublicKey::new(n, rsa::BigUint::from(65_537u32)).unwrap();
    w.call(b.port, "Initial", |_| {});
    let r = w.call(b.port, "LoadCertificateByHca", |x| {
        x.pin = pin(&for_a, "123456")
    });
    assert_eq!(r.error_code, 9111, "{}", r.error_message);
    assert_eq!(w.tries_left(), Some(3));
}

#[test]
fn steps_need_initial_a_pin_and_content() {
    let w = world();
    let (port, key) = w.open();
    assert_eq!(w.call(port, "LoadCertificate", |_| {}).error_code, 9101);
    w.call(port, "Initial", |_| {});
    assert_eq!(
        w.call(port, "LoadCertificateByHca", |_| {}).error_code,
        9112
    );
    assert_eq!(
        w.call(port, "Sign", |a| a.pin = pin(&key, "123456"))
            .error_code,
        9104
    );
    assert_eq!(
        w.call(port, "Output", |a| a.format = Some(64)).error_code,
        9105
    );
    assert_eq!(w.call(port, "LoadPkcs7", |_| {}).error_code, 9108);
    let garbage = w.call(port, "Sign", |a| {
        a.pin = Some(SecretString::new("ab".repeat(200)))
    });
    assert_eq!(garbage.error_code, 9104, "content is checked first");
    w.call(port, "LoadContent", |a| a.content = Some("x".to_owned()));
    let garbage = w.call(port, "Sign", |a| {
        a.pin = Some(SecretString::new("ab".repeat(200)))
    });
    assert_eq!(garbage.error_code, 9111);
    assert_eq!(w.tries_left(), Some(3));
}

#[test]
fn ports_belong_to_their_site_and_close() {
    let w = world();
    let (port, _) = w.open();
    let other = page("https://other.example.gov.tw");
    let args = SmartPkiCallArgs {
        port,
        request: "info".to_owned(),
        ..SmartPkiCallArgs::default()
    };
    let closed = |caller: &Caller| {
        glue::call(&w.service, caller, &w.ports, args.clone())
            .unwrap()
            .error_code
    };
    assert_eq!(closed(&other), 9113, "another site cannot use the port");
    assert!(!glue::close(&other, &w.ports, port).unwrap().closed);
    assert_eq!(closed(&w.caller), 0);
    assert!(glue::close(&w.caller, &w.ports, port).unwrap().closed);
    assert_eq!(closed(&w.caller), 9113);
    // A site the policy does not trust, with no dialog to ask: no port.
    let stranger = page("https://evil.example.com");
    assert!(glue::open(&w.service, &stranger, &w.ports).is_err());
    assert!(w.ports.is_empty());
    // Local programs have no SmartPKI ports.
    let local = Caller::local(Language::En);
    assert!(glue::run(&w.service, &local, &w.ports, Command::SmartPkiOpen).is_err());
}
