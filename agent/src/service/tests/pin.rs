//! The PIN-source table, row by row, and the PIN rules the service enforces around it.

use super::*;
use crate::pin::PinState;
use crate::service::pin_source::{decide, request_pin, RequestPin, Source};
use crate::service::Who;

#[test]
fn the_table_row_by_row() {
    let site = |api| Who::Site {
        origin: crate::policy::Origin::parse(TRUSTED).unwrap(),
        api,
    };
    use crate::service::Api;
    assert_eq!(request_pin(&site(Api::CardAgent)), RequestPin::Never);
    assert_eq!(request_pin(&Who::OwnExtensionPage), RequestPin::Never);
    assert_eq!(request_pin(&site(Api::HiPki)), RequestPin::UnlessFinalTry);
    assert_eq!(
        request_pin(&site(Api::SmartPki)),
        RequestPin::UnlessFinalTry
    );
    assert_eq!(request_pin(&Who::OwnLegacyPage), RequestPin::UnlessFinalTry);
    assert_eq!(request_pin(&Who::LocalProgram), RequestPin::Always);

    let ok = PinState::Ok;
    let last = PinState::FinalTry;
    // Pages of the new API: never, whatever the setting.
    for setting in [PinEntry::Auto, PinEntry::Page, PinEntry::Dialog] {
        assert!(matches!(
            decide(&site(Api::CardAgent), setting, true, ok),
            Err(Error::PinFromPage)
        ));
    }
    // HiPKI pages: theirs, except on the final try (the dialog), or when only the dialog is.
    assert_eq!(
        decide(&site(Api::HiPki), PinEntry::Auto, true, ok).unwrap(),
        Source::Request
    );
    assert_eq!(
        decide(&site(Api::HiPki), PinEntry::Page, true, ok).unwrap(),
        Source::Request
    );
    assert_eq!(
        decide(&site(Api::HiPki), PinEntry::Auto, true, last).unwrap(),
        Source::Dialog
    );
    assert_eq!(
        decide(&site(Api::HiPki), PinEntry::Page, true, last).unwrap(),
        Source::Dialog
    );
    assert!(matches!(
        decide(&site(Api::HiPki), PinEntry::Dialog, true, ok),
        Err(Error::BadInput(_))
    ));
    // No PIN in the request: the dialog, unless pages must bring one (pin_entry = "page").
    assert_eq!(
        decide(&site(Api::HiPki), PinEntry::Auto, false, ok).unwrap(),
        Source::Dialog
    );
    assert!(matches!(
        decide(&site(Api::HiPki), PinEntry::Page, false, ok),
        Err(Error::PinRequired)
    ));
    // Local programs of the same user: theirs, even on the final try and under "dialog".
    for setting in [PinEntry::Auto, PinEntry::Page, PinEntry::Dialog] {
        for state in [ok, last] {
            assert_eq!(
                decide(&Who::LocalProgram, setting, true, state).unwrap(),
                Source::Request
            );
        }
    }
    assert_eq!(
        decide(&Who::LocalProgram, PinEntry::Page, false, ok).unwrap(),
        Source::Dialog
    );
}

#[test]
fn a_page_pin_is_refused_by_the_service_itself_and_never_reaches_the_card() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    for caller in [page(TRUSTED), extension_page()] {
        let e = bench
            .service
            .sign(&caller, sign_request(Some(DEMO_PIN)))
            .unwrap_err();
        assert!(matches!(e, Error::PinFromPage), "{e:?}");
        let e = bench
            .service
            .verify_pin(&caller, None, Some(secret(DEMO_PIN)))
            .unwrap_err();
        assert!(matches!(e, Error::PinFromPage), "{e:?}");
    }
    assert_eq!(bench.card_calls(), 0);
    assert!(bench.asked().is_empty(), "{:?}", bench.asked());
    // Without a PIN the agent's own dialog asks, and the signature is made.
    bench
        .service
        .sign(&page(TRUSTED), sign_request(None))
        .unwrap();
    assert_eq!(
        bench.asked(),
        vec![format!("pin for {TRUSTED} (Some(3) tries left)")]
    );
}

#[test]
fn a_legacy_page_pin_is_used_except_on_the_final_try() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    bench
        .service
        .sign(&legacy_page(TRUSTED), sign_request(Some(DEMO_PIN)))
        .unwrap();
    assert!(bench.asked().is_empty());
    bench.to_final_try();
    let calls = bench.card_calls();
    // The page's (wrong) PIN is dropped unsent: the user types the last try in the dialog.
    // The certificate is remembered with the card's state before the wrong tries, so the
    // request is first decided on a stale "no tries spent": the fresh state read in the
    // token's turn stops it before the login and the dialog asks, as it would for a request
    // that waited while another spent the tries.
    bench
        .service
        .sign(&legacy_page(TRUSTED), sign_request(Some(WRONG)))
        .unwrap();
    assert_eq!(
        bench.asked(),
        vec![format!("pin for {TRUSTED} (Some(1) tries left)")]
    );
    assert_eq!(
        bench.card_calls(),
        calls + 1,
        "only the dialog's PIN was sent"
    );
}

#[test]
fn on_the_final_try_without_a_dialog_the_page_pin_is_refused_unsent() {
    let bench = Bench::new(None, PinEntry::Auto);
    // A signature first, so the certificate is remembered with the card's state before the
    // wrong tries: the page's request is refused in the token's turn, on the fresh state.
    bench
        .service
        .sign(&local(), sign_request(Some(DEMO_PIN)))
        .unwrap();
    bench.to_final_try();
    let calls = bench.card_calls();
    let e = bench
        .service
        .sign(&legacy_page(TRUSTED), sign_request(Some(DEMO_PIN)))
        .unwrap_err();
    assert!(matches!(e, Error::FinalTryNeedsDialog { .. }), "{e:?}");
    assert_eq!(e.code(), card_agent_protocol::ErrorCode::PinRequired);
    assert_eq!(bench.card_calls(), calls, "nothing was sent to the card");
    // The card still has its last try: the user's own program may spend it.
    bench
        .service
        .sign(&local(), sign_request(Some(DEMO_PIN)))
        .unwrap();
}

#[test]
fn a_malformed_pin_never_reaches_the_card() {
    let bench = Bench::new(None, PinEntry::Auto);
    for bad in ["", "12345", "123456789", "12a456"] {
        let e = bench
            .service
            .sign(&local(), sign_request(Some(bad)))
            .unwrap_err();
        assert!(matches!(e, Error::PinFormat(_)), "{bad:?}: {e:?}");
    }
    assert_eq!(bench.card_calls(), 0);
}

#[test]
fn a_caller_gone_before_its_turn_starts_nothing_on_the_card() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    let caller = local();
    caller.client.leave();
    let e = bench
        .service
        .sign(&caller, sign_request(Some(DEMO_PIN)))
        .unwrap_err();
    assert!(matches!(e, Error::CallerGone), "{e:?}");
    let e = bench
        .service
        .verify_pin(&caller, None, Some(secret(WRONG)))
        .unwrap_err();
    assert!(matches!(e, Error::CallerGone), "{e:?}");
    assert_eq!(bench.card_calls(), 0);
    // A dialog is not opened for it either.
    let gone = page(TRUSTED);
    bench.service.client_gone(&gone.client);
    assert!(bench.service.sign(&gone, sign_request(None)).is_err());
    assert!(bench.asked().is_empty(), "{:?}", bench.asked());
    assert_eq!(bench.card_calls(), 0);
}

#[test]
fn a_pin_the_card_refused_is_never_sent_again_whatever_its_source() {
    // The dialog's person types the same wrong PIN the page sent.
    let bench = Bench::new(Some(dialogs_answering(WRONG)), PinEntry::Auto);
    let e = bench
        .service
        .sign(&legacy_page(TRUSTED), sign_request(Some(WRONG)))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::PinIncorrect {
                tries_left: Some(2)
            }
        ),
        "{e:?}"
    );
    let calls = bench.card_calls();
    // The same PIN again: from the page (a batch that keeps its PIN), from a local program,
    // typed in the agent's dialog. Each is answered as a wrong PIN, with the card's own count,
    // and none reaches the card.
    let again = [
        bench
            .service
            .sign(&legacy_page(TRUSTED), sign_request(Some(WRONG))),
        bench.service.sign(&local(), sign_request(Some(WRONG))),
        bench.service.sign(&page(TRUSTED), sign_request(None)),
    ];
    for outcome in again {
        let e = outcome.unwrap_err();
        assert!(
            matches!(
                e,
                Error::PinAlreadyRefused {
                    tries_left: Some(2)
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), card_agent_protocol::ErrorCode::PinIncorrect);
    }
    assert_eq!(
        bench.card_calls(),
        calls,
        "the refused PIN was not sent again"
    );
    // Another PIN goes to the card as always.
    bench
        .service
        .sign(&local(), sign_request(Some(DEMO_PIN)))
        .unwrap();
    assert_eq!(bench.card_calls(), calls + 1);
    // Another reader's news changes nothing; a card taken out (and put back in) may be tried
    // with that PIN again.
    bench.service.card_event(None);
    let e = bench
        .service
        .verify_pin(&local(), None, Some(secret(WRONG)))
        .unwrap_err();
    assert!(matches!(e, Error::PinAlreadyRefused { .. }), "{e:?}");
    bench
        .service
        .card_event(Some(card_agent_protocol::message::Event::CardRemoved {
            reader: "Reader 0".to_owned(),
        }));
    let e = bench
        .service
        .verify_pin(&local(), None, Some(secret(WRONG)))
        .unwrap_err();
    assert!(matches!(e, Error::PinIncorrect { .. }), "{e:?}");
    assert_eq!(bench.card_calls(), calls + 2);
}
