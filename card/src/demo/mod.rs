//! The DEMO token: an in-process software card used only with `--demo`, so people can try the
//! agent (and pages can be tested) without a card. Everything it shows says DEMO.
//!
//! It imitates a MOICA card: a signing key ("SIGN") and an encryption key ("KEYX"), both
//! RSA-2048 with certificates from a [`TestPki`], PIN lengths 6 to 8, and the card's PIN
//! counter: three wrong PINs lock it, and (like a real card, which needs a visit to a
//! registration office) it stays locked for the life of the process. Keys exist in memory only
//! and are new on every start.

pub mod pki;

use std::sync::{Mutex, MutexGuard};

use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use subtle::ConstantTimeEq;

use crate::certificate::{CardFamily, CertificateInfo};
use crate::error::{Error, Result};
use crate::pin::{Pin, PinLimits, PinState};
use crate::signer::RawMechanism;
use crate::token::{TokenCertificate, TokenInfo, TokenRef};

pub use pki::{CertUsage, Holder, TestPki};

/// The demo token's PIN. It is public on purpose: the demo token holds no secret worth
/// protecting, and people need to know it to try signing.
pub const DEMO_PIN: &str = "123456";

/// The seed every demo key and serial number is derived from. Public on purpose: the demo
/// token is a toy, and anyone may recreate its keys.
const DEMO_SEED: [u8; 32] = *b"card-agent DEMO token, not real!";

/// The demo token's four RSA-2048 keys (root, issuer, signing, encryption), PKCS#8 DER: the
/// first four keys generated from [`DEMO_SEED`], embedded so the demo starts in milliseconds
/// instead of generating them (about a second) in every process. The test
/// `embedded_keys_are_the_seeded_ones` proves where they came from. They protect nothing.
const EMBEDDED_KEYS: [&[u8]; 4] = [
    include_bytes!("keys/root.pk8"),
    include_bytes!("keys/issuer.pk8"),
    include_bytes!("keys/sign.pk8"),
    include_bytes!("keys/keyx.pk8"),
];

fn embedded_keys() -> Result<Vec<RsaPrivateKey>> {
    use rsa::pkcs8::DecodePrivateKey;
    EMBEDDED_KEYS
        .iter()
        .map(|der| {
            RsaPrivateKey::from_pkcs8_der(der)
                .map_err(|e| Error::Internal(format!("embedded demo key: {e}")))
        })
        .collect()
}

/// Start of the first validity window of the demo PKI: 2026-01-01T00:00:00Z.
const DEMO_FIRST_WINDOW: u64 = 1_767_225_600;

/// Length of one validity window: five years of 365 days.
const DEMO_WINDOW_SECS: u64 = 5 * 365 * 86_400;

/// The demo PKI's start of validity, for a process started at `now`.
///
/// When does the demo end? Never: the dates are re-derived every five years. Windows start on
/// 2026-01-01T00:00:00Z and every 1825 days after (2030-12-31, 2035-12-30, ...); the holder
/// certificates run ten years from their window's start (from the day before, for clock skew),
/// the CAs twenty. So on any date at least five years of validity remain, and two processes see
/// the same certificates unless a window turned between their starts (once in five years). A
/// clock set before 2026 gets the first window. Tests and golden files must therefore never pin
/// a demo certificate's bytes, dates or fingerprints; pin them through [`DemoToken::at`].
fn demo_epoch(now: std::time::SystemTime) -> std::time::SystemTime {
    let since_first = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(DEMO_FIRST_WINDOW);
    let window = since_first / DEMO_WINDOW_SECS;
    std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(DEMO_FIRST_WINDOW + window * DEMO_WINDOW_SECS)
}

/// The demo token's serial number (16 characters, like a real card's).
pub const DEMO_SERIAL: &str = "DEMO000000000001";

/// CKA_ID of the signing key and certificate, as on a real card.
pub const SIGN_KEY_ID: &[u8] = b"SIGN";

/// CKA_ID of the encryption key and certificate, as on a real card.
pub const KEYX_KEY_ID: &[u8] = b"KEYX";

/// Wrong PINs a card accepts before locking.
const MAX_TRIES: u8 = 3;

/// One key pair with its certificate.
struct DemoKey {
    id: &'static [u8],
    label: &'static str,
    key: RsaPrivateKey,
    cert: CertificateInfo,
}

/// The PIN counter and login state, behind a mutex because the token is shared across
/// requests.
#[derive(Debug)]
struct PinCounter {
    tries_left: u8,
    logged_in: bool,
}

/// The in-process DEMO token.
pub struct DemoToken {
    pki: TestPki,
    keys: Vec<DemoKey>,
    pin: Mutex<PinCounter>,
}

impl DemoToken {
    /// Creates the token: a MOICA-like test PKI and two RSA-2048 holder keys with certificates
    /// (four key generations in all). Everything is derived from a fixed seed and the current
    /// five-year window, so the demo token shows the same certificates in every process: a
    /// certificate listed by one command verifies a signature made by the next.
    pub fn new() -> Result<DemoToken> {
        Self::at(std::time::SystemTime::now())
    }

    /// The token a process started at `now` has: the same certificates for every `now` in one
    /// five-year window (see `demo_epoch`). Tests pin a date with it.
    pub fn at(now: std::time::SystemTime) -> Result<DemoToken> {
        let epoch = demo_epoch(now);
        let pki = TestPki::deterministic_with_keys(
            CardFamily::Moica,
            DEMO_SEED,
            epoch,
            embedded_keys()?,
        )?;
        let holder = Holder {
            name: "DEMO 示範用戶".into(),
            serial_number: "0000000000000000".into(),
            id_last4: Some("0000".into()),
            card_serial: Some(DEMO_SERIAL.into()),
            ..Holder::default()
        };
        let mut keys = Vec::with_capacity(2);
        for (id, label, usage) in [
            (SIGN_KEY_ID, "DEMO signing", CertUsage::Signing),
            (KEYX_KEY_ID, "DEMO encryption", CertUsage::Encryption),
        ] {
            let key = pki.new_rsa_key()?;
            let spki = der::Encode::to_der(&pki::public_key_info(&key)?)
                .map_err(crate::signer::encoding_error)?;
            // Ten years: pages check validity, and a demo certificate must never expire
            // in the middle of a demo.
            let cert = CertificateInfo::parse(&pki.issue_at(&holder, &spki, usage, epoch, 3650)?)?;
            keys.push(DemoKey {
                id,
                label,
                key,
                cert,
            });
        }
        Ok(DemoToken {
            pki,
            keys,
            pin: Mutex::new(PinCounter {
                tries_left: MAX_TRIES,
                logged_in: false,
            }),
        })
    }

    /// What the token says about itself, with the live PIN counter.
    pub fn info(&self, token_ref: TokenRef) -> TokenInfo {
        // A poisoned lock means a panic mid-update; report the token as locked rather than
        // guess a counter.
        let tries_left = self.counter().map(|c| c.tries_left).unwrap_or(0);
        TokenInfo {
            token_ref,
            label: "DEMO card-agent demo token".into(),
            manufacturer: "card-agent (DEMO)".into(),
            model: "DEMO".into(),
            serial: DEMO_SERIAL.into(),
            slot_description: "DEMO virtual reader".into(),
            module: "demo".into(),
            pin_limits: PinLimits::GOVERNMENT_CARD,
            pin_state: pin_state(tries_left),
            tries_left: Some(tries_left),
            demo: true,
            pin_pad: false,
        }
    }

    /// The signing and encryption certificates, each with its private key.
    ///
    /// Like many real cards, the token also carries its CA certificates (issuer and root,
    /// without keys), so the chain can be checked with nothing but the token's own contents.
    pub fn certificates(&self) -> Result<Vec<TokenCertificate>> {
        let mut certs: Vec<TokenCertificate> = self
            .keys
            .iter()
            .map(|k| TokenCertificate {
                info: k.cert.clone(),
                id: k.id.to_vec(),
                label: k.label.into(),
                has_private_key: true,
            })
            .collect();
        for (der, label) in [
            (self.pki.issuer_der(), "DEMO issuing CA"),
            (self.pki.root_der(), "DEMO root CA"),
        ] {
            certs.push(TokenCertificate {
                info: CertificateInfo::parse(der)?,
                id: Vec::new(),
                label: label.into(),
                has_private_key: false,
            });
        }
        Ok(certs)
    }

    /// Checks the PIN like the card does. The caller has already applied the PIN format rule.
    ///
    /// A wrong PIN costs a try and gives [`Error::PinIncorrect`] with the tries left; the
    /// third gives [`Error::PinLocked`], as does every later login, right PIN or not. A right
    /// PIN resets the counter and logs in.
    pub fn login(&self, pin: &Pin) -> Result<()> {
        let mut counter = self.counter()?;
        if counter.tries_left == 0 {
            return Err(Error::PinLocked);
        }
        if bool::from(pin.expose().as_bytes().ct_eq(DEMO_PIN.as_bytes())) {
            counter.tries_left = MAX_TRIES;
            counter.logged_in = true;
            return Ok(());
        }
        counter.tries_left -= 1;
        counter.logged_in = false;
        match counter.tries_left {
            0 => Err(Error::PinLocked),
            n => Err(Error::PinIncorrect {
                tries_left: Some(n),
            }),
        }
    }

    /// Ends the login, as C_Logout does.
    pub fn logout(&self) -> Result<()> {
        self.counter()?.logged_in = false;
        Ok(())
    }

    /// Decrypts a PKCS#1 v1.5 ciphertext with key `key_id` (CKM_RSA_PKCS), after a successful
    /// [`login`](Self::login).
    pub fn decrypt_raw(&self, key_id: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
        let key = self.logged_in_key(key_id)?;
        key.key
            .decrypt(rsa::Pkcs1v15Encrypt, ciphertext)
            .map_err(|_| Error::BadInput("the ciphertext was not made for this card's key".into()))
    }

    /// The key with `key_id`, once a login has succeeded, as a card checks before any
    /// private-key operation.
    fn logged_in_key(&self, key_id: &[u8]) -> Result<&DemoKey> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or(Error::KeyNotFound)?;
        let counter = self.counter()?;
        if counter.tries_left == 0 {
            return Err(Error::PinLocked);
        }
        // A card refuses private-key operations before login (CKR_USER_NOT_LOGGED_IN).
        if !counter.logged_in {
            return Err(Error::PinRequired);
        }
        Ok(key)
    }

    /// The private-key operation of key `key_id`, after a successful [`login`](Self::login).
    ///
    /// [`RawMechanism::RsaPkcs1`] pads the given DigestInfo (PKCS#1 v1.5 type 1) and applies
    /// the key, like CKM_RSA_PKCS. The demo keys are RSA, so [`RawMechanism::Ecdsa`] is
    /// [`Error::Unsupported`].
    pub fn sign_raw(
        &self,
        key_id: &[u8],
        mechanism: RawMechanism,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        let key = self.logged_in_key(key_id)?;
        match mechanism {
            // With an RNG, rsa blinds the private-key operation against timing attacks.
            RawMechanism::RsaPkcs1 => key
                .key
                .sign_with_rng(
                    &mut rand::thread_rng(),
                    Pkcs1v15Sign::new_unprefixed(),
                    input,
                )
                .map_err(|e| Error::BadInput(format!("the demo key cannot sign this input: {e}"))),
            RawMechanism::Ecdsa => Err(Error::Unsupported(
                "ECDSA with an RSA key on the demo token".into(),
            )),
        }
    }

    /// The test root certificate, DER, for verifying the demo's signatures.
    pub fn root_der(&self) -> &[u8] {
        self.pki.root_der()
    }

    /// The test issuing CA certificate, DER.
    pub fn issuer_der(&self) -> &[u8] {
        self.pki.issuer_der()
    }

    /// The PKI behind the token, for tests that issue more certificates.
    #[cfg(test)]
    pub(crate) fn pki(&self) -> &TestPki {
        &self.pki
    }

    fn counter(&self) -> Result<MutexGuard<'_, PinCounter>> {
        self.pin
            .lock()
            .map_err(|_| Error::Internal("demo token PIN state poisoned".into()))
    }
}

/// PKCS#11's view of a counter: the flags a real token would set.
fn pin_state(tries_left: u8) -> PinState {
    match tries_left {
        0 => PinState::Locked,
        1 => PinState::FinalTry,
        n if n < MAX_TRIES => PinState::CountLow,
        _ => PinState::Ok,
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::testutil::{openssl, shared_demo, Scratch};
    use super::*;
    use crate::signer::{sign_with, CmsOptions, HashAlgorithm, SignFormat, SignInput};

    fn at(secs: u64) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
    }

    #[test]
    fn the_demo_window_leaves_five_years_on_any_date() {
        let first = DEMO_FIRST_WINDOW;
        assert_eq!(demo_epoch(at(0)), at(first), "a clock before 2026");
        assert_eq!(demo_epoch(at(first)), at(first));
        assert_eq!(demo_epoch(at(first + DEMO_WINDOW_SECS - 1)), at(first));
        assert_eq!(
            demo_epoch(at(first + DEMO_WINDOW_SECS)),
            at(first + DEMO_WINDOW_SECS)
        );
        // Far ahead (2200): still a window start at or before now, at most five years back.
        let far = 7_258_118_400;
        let epoch = demo_epoch(at(far));
        let back = at(far).duration_since(epoch).unwrap().as_secs();
        assert!(back < DEMO_WINDOW_SECS);
        assert_eq!(
            (epoch.duration_since(at(first)).unwrap().as_secs()) % DEMO_WINDOW_SECS,
            0
        );
    }

    #[test]
    fn demo_certificates_are_valid_on_dates_years_apart_and_fixed_within_a_window() {
        for now in [
            DEMO_FIRST_WINDOW + 86_400,
            DEMO_FIRST_WINDOW + 3 * DEMO_WINDOW_SECS - 1,
            DEMO_FIRST_WINDOW + 40 * DEMO_WINDOW_SECS,
        ] {
            let token = DemoToken::at(at(now)).unwrap();
            for c in token.certificates().unwrap() {
                let now = i64::try_from(now).unwrap();
                assert!(c.info.not_before <= now, "{}", c.info.not_before);
                assert!(c.info.days_to_expiry(now) >= 5 * 365, "{now}");
            }
        }
        let a = DemoToken::at(at(DEMO_FIRST_WINDOW + 10)).unwrap();
        let b = DemoToken::at(at(DEMO_FIRST_WINDOW + DEMO_WINDOW_SECS - 10)).unwrap();
        assert_eq!(
            a.certificates().unwrap()[0].info.der,
            b.certificates().unwrap()[0].info.der
        );
    }

    fn pin(s: &str) -> Pin {
        Pin::new(s.into())
    }

    fn tries(demo: &DemoToken) -> (PinState, Option<u8>) {
        let info = demo.info(TokenRef {
            provider: 0,
            slot_id: 0,
        });
        (info.pin_state, info.tries_left)
    }

    #[test]
    fn pin_counter_behaves_like_the_card() {
        let demo = DemoToken::new().unwrap();
        let sign = |demo: &DemoToken| demo.sign_raw(SIGN_KEY_ID, RawMechanism::RsaPkcs1, b"x");

        assert_eq!(tries(&demo), (PinState::Ok, Some(3)));
        assert!(matches!(sign(&demo), Err(Error::PinRequired)));

        // Wrong, wrong, right: the right PIN resets the counter.
        assert!(matches!(
            demo.login(&pin("000000")),
            Err(Error::PinIncorrect {
                tries_left: Some(2)
            })
        ));
        assert_eq!(tries(&demo), (PinState::CountLow, Some(2)));
        assert!(matches!(
            demo.login(&pin("1234567")),
            Err(Error::PinIncorrect {
                tries_left: Some(1)
            })
        ));
        assert_eq!(tries(&demo), (PinState::FinalTry, Some(1)));
        demo.login(&pin(DEMO_PIN)).unwrap();
        assert_eq!(tries(&demo), (PinState::Ok, Some(3)));
        assert!(sign(&demo).is_ok());
        demo.logout().unwrap();
        assert!(matches!(sign(&demo), Err(Error::PinRequired)));

        // Three wrong PINs lock it; a wrong PIN also ends the login.
        demo.login(&pin(DEMO_PIN)).unwrap();
        assert!(matches!(
            demo.login(&pin("654321")),
            Err(Error::PinIncorrect {
                tries_left: Some(2)
            })
        ));
        assert!(matches!(sign(&demo), Err(Error::PinRequired)));
        assert!(matches!(
            demo.login(&pin("654321")),
            Err(Error::PinIncorrect {
                tries_left: Some(1)
            })
        ));
        assert!(matches!(demo.login(&pin("654321")), Err(Error::PinLocked)));
        assert_eq!(tries(&demo), (PinState::Locked, Some(0)));

        // Locked stays locked, even for the right PIN.
        assert!(matches!(demo.login(&pin(DEMO_PIN)), Err(Error::PinLocked)));
        assert!(matches!(sign(&demo), Err(Error::PinLocked)));
        assert_eq!(tries(&demo), (PinState::Locked, Some(0)));
    }

    #[test]
    fn can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<DemoToken>();
    }

    #[test]
    fn says_demo_everywhere() {
        let demo = shared_demo();
        let info = demo.info(TokenRef {
            provider: 2,
            slot_id: 7,
        });
        assert_eq!(
            info.token_ref,
            TokenRef {
                provider: 2,
                slot_id: 7
            }
        );
        assert_eq!(info.label, "DEMO card-agent demo token");
        assert_eq!(info.manufacturer, "card-agent (DEMO)");
        assert_eq!(info.model, "DEMO");
        assert_eq!(info.serial, "DEMO000000000001");
        assert_eq!(info.serial.len(), 16);
        assert_eq!(info.slot_description, "DEMO virtual reader");
        assert_eq!(info.pin_limits, PinLimits { min: 6, max: 8 });
        assert!(info.demo);

        let certs = demo.certificates().unwrap();
        assert_eq!(certs.len(), 4);
        assert_eq!(certs.iter().filter(|c| c.has_private_key).count(), 2);
        assert!(certs[2..]
            .iter()
            .all(|c| c.info.is_ca && c.label.contains("DEMO")));
        let sign = &certs[0];
        assert_eq!(hex::encode(&sign.id), "5349474e");
        assert_eq!(sign.label, "DEMO signing");
        assert_eq!(sign.info.key_usage, ["digitalSignature", "nonRepudiation"]);
        assert_eq!(sign.info.subject_cn.as_deref(), Some("DEMO 示範用戶"));
        assert_eq!(sign.info.id_last4.as_deref(), Some("0000"));
        assert_eq!(sign.info.card_serial.as_deref(), Some(DEMO_SERIAL));
        assert_eq!(sign.info.family, CardFamily::Moica);
        assert!(sign.has_private_key);
        let keyx = &certs[1];
        assert_eq!(hex::encode(&keyx.id), "4b455958");
        assert_eq!(keyx.label, "DEMO encryption");
        assert_eq!(keyx.info.key_usage, ["keyEncipherment", "dataEncipherment"]);
    }

    #[test]
    fn sign_raw_refuses_unknown_keys_and_mechanisms() {
        let demo = shared_demo();
        assert!(matches!(
            demo.sign_raw(b"NOPE", RawMechanism::RsaPkcs1, b"x"),
            Err(Error::KeyNotFound)
        ));
        assert!(matches!(
            demo.sign_raw(SIGN_KEY_ID, RawMechanism::Ecdsa, &[0; 32]),
            Err(Error::Unsupported(_))
        ));
        // Longer than an RSA-2048 block can hold.
        assert!(matches!(
            demo.sign_raw(SIGN_KEY_ID, RawMechanism::RsaPkcs1, &[1; 250]),
            Err(Error::BadInput(_))
        ));
    }

    #[test]
    fn pkcs1_signatures_verify_with_openssl() {
        let demo = shared_demo();
        let cert = &demo.certificates().unwrap()[0].info;
        let dir = Scratch::new();
        let public_key = dir.public_key("sign.pub.pem", &cert.der);
        let data = "報稅 tax filing DEMO\n".repeat(20).into_bytes();
        let data_path = dir.file("data.txt", &data);
        for hash_alg in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let mut raw = |m: RawMechanism, input: &[u8]| demo.sign_raw(SIGN_KEY_ID, m, input);
            let opts = CmsOptions::default();
            let sig = sign_with(
                &mut raw,
                cert,
                hash_alg,
                &SignInput::Data(data.clone()),
                SignFormat::Pkcs1,
                &opts,
            )
            .unwrap();
            assert_eq!(sig.len(), 256);
            let sig_path = dir.file(&format!("{}.sig", hash_alg.name()), &sig);
            let digest_flag = format!("-{}", hash_alg.name());
            openssl(&[
                "dgst",
                &digest_flag,
                "-verify",
                &public_key,
                "-signature",
                &sig_path,
                &data_path,
            ]);

            // A precomputed hash gives the same (deterministic) signature, and pkeyutl agrees.
            let hash = hash_alg.digest(&data);
            let from_hash = sign_with(
                &mut raw,
                cert,
                hash_alg,
                &SignInput::Hash(hash.clone()),
                SignFormat::Pkcs1,
                &opts,
            )
            .unwrap();
            assert_eq!(from_hash, sig);
            let hash_path = dir.file(&format!("{}.hash", hash_alg.name()), &hash);
            let digest_opt = format!("digest:{}", hash_alg.name());
            openssl(&[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                &public_key,
                "-in",
                &hash_path,
                "-sigfile",
                &sig_path,
                "-pkeyopt",
                &digest_opt,
            ]);
        }
    }
}

#[cfg(test)]
mod provenance {
    use rand::SeedableRng;

    /// The embedded keys are exactly the first four RSA-2048 keys the public seed yields.
    #[test]
    fn embedded_keys_are_the_seeded_ones() {
        let mut rng = rand::rngs::StdRng::from_seed(super::DEMO_SEED);
        for embedded in super::embedded_keys().unwrap() {
            assert_eq!(rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(), embedded);
        }
    }
}
