//! A token that disappears in the middle of the agent's work gives a clear error, never a crash,
//! and the agent keeps working afterwards.
//!
//! This file is its own test process because it loads SoftHSM in-process, and SoftHSM reads
//! SOFTHSM2_CONF once, at C_Initialize.

use card_agent::card_core::{CardCore, CoreOptions};
use card_agent::pin::Pin;
use card_agent::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};
use card_agent::Error;
use card_agent_testbed::softhsm::{Options, SoftHsm, SOFTHSM_MODULE, USER_PIN};

#[test]
fn token_deleted_between_listing_and_signing() {
    let hsm = SoftHsm::new(Options::default());
    // The only test in this process, so setting the variable races with nothing.
    std::env::set_var("SOFTHSM2_CONF", hsm.conf());
    let core = CardCore::open(&CoreOptions {
        command_line_modules: vec![SOFTHSM_MODULE.into()],
        ..CoreOptions::default()
    })
    .expect("core");
    let (token, cert) = core.find_certificate(None).expect("signing certificate");

    let out = hsm
        .command("softhsm2-util")
        .args(["--delete-token", "--token", &hsm.label])
        .output()
        .expect("softhsm2-util");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let result = core.sign(
        &token,
        &cert,
        &Pin::new(USER_PIN.to_owned()),
        HashAlgorithm::Sha256,
        &SignInput::Data(b"late".to_vec()),
        SignFormat::Cms,
        &CmsOptions::default(),
    );
    let err = result.expect_err("the token is gone");
    assert!(
        matches!(
            err,
            Error::CardRemoved
                | Error::NoToken { .. }
                | Error::KeyNotFound
                | Error::PinIncorrect { .. }
        ),
        "unexpected error: {err:?}"
    );
    // Listing again works and no longer shows the token.
    let tokens = core.tokens().expect("tokens");
    assert!(tokens.iter().all(|t| t.label != hsm.label), "{tokens:?}");
}
