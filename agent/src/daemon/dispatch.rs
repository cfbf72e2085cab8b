//! The native protocol's commands as calls to the service's typed operations, and their
//! results as the protocol's types: the daemon adapter's whole wire format. No rule lives here;
//! the service admits and decides.

use base64::Engine as _;
use card_agent_protocol::message::{
    self, CertificatesResult, Command, RemoveTrustedSiteResult, SignArgs, SignResult,
    SignatureFormat, TokenCertificate as WireCertificate, VerifyPinResult, VersionResult,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::inventory;
use crate::service::{Caller, Service, SignOutput, SignRequest};
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};

/// Runs one command (except `subscribe`, `unsubscribe` and `legacy-request`, which belong to
/// the connection) and returns its `result` object.
pub fn run(service: &Service, caller: &Caller, command: Command) -> Result<Value> {
    match command {
        Command::Version => to_value(&VersionResult::new(Service::version())),
        Command::Status => to_value(&inventory::to_wire(
            &service.inventory(caller)?,
            inventory::now_unix(),
        )),
        Command::GetCertificates => {
            let now = inventory::now_unix();
            let certificates = service
                .certificates(caller)?
                .into_iter()
                .flat_map(|(token, certs)| {
                    certs.into_iter().map(move |cert| WireCertificate {
                        token_serial: token.serial.clone(),
                        certificate: inventory::certificate(&cert, now),
                    })
                })
                .collect();
            to_value(&CertificatesResult { certificates })
        }
        Command::VerifyPin(args) => {
            let _checked = service.verify_pin(caller, args.token.as_deref(), args.pin)?;
            to_value(&VerifyPinResult { verified: true })
        }
        Command::Sign(args) => {
            let request = sign_request(args)?;
            to_value(&sign_result(service.sign(caller, request)?))
        }
        Command::Authenticate(args) => to_value(&service.authenticate(
            caller,
            &args.challenge_nonce,
            args.certificate.as_deref(),
            args.pin,
        )?),
        Command::EnvironmentCheck => to_value(&service.environment_check(caller)?),
        Command::SelfTestSign(args) => {
            to_value(&service.self_test_sign(caller, args.certificate, args.pin)?)
        }
        Command::TrustedSites => to_value(&service.trusted_sites(caller)?),
        Command::RemoveTrustedSite(args) => {
            let removed = service.remove_trusted_site(caller, &args.site)?;
            to_value(&RemoveTrustedSiteResult { removed })
        }
        Command::Subscribe
        | Command::Unsubscribe
        | Command::Cancel(_)
        | Command::LegacyRequest(_)
        | Command::SmartPkiOpen
        | Command::SmartPkiCall(_)
        | Command::SmartPkiClose(_) => Err(Error::Internal(
            "subscriptions, cancels, legacy requests and SmartPKI ports are handled by the \
             connection"
                .to_owned(),
        )),
    }
}

/// The native protocol's `sign` arguments as a service request.
pub fn sign_request(args: SignArgs) -> Result<SignRequest> {
    let input = match args.input().map_err(|e| Error::BadInput(e.to_string()))? {
        message::SignInput::Data(d) => SignInput::Data(d),
        message::SignInput::Hash(h) => SignInput::Hash(h),
    };
    let nonce = args
        .nonce
        .as_deref()
        .map(|n| {
            card_agent_protocol::encoding::decode_base64(n)
                .map_err(|_| Error::BadInput("nonce is not base64".to_owned()))
        })
        .transpose()?;
    Ok(SignRequest {
        certificate: Some(args.certificate),
        input,
        hash: match args.hash_algorithm {
            message::HashAlgorithm::Sha1 => HashAlgorithm::Sha1,
            message::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
            message::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
            message::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
        },
        format: match args.format {
            SignatureFormat::Pkcs1 => SignFormat::Pkcs1,
            SignatureFormat::Cms => SignFormat::Cms,
            SignatureFormat::CmsAttached => SignFormat::CmsAttached,
        },
        cms: CmsOptions {
            nonce,
            ..CmsOptions::default()
        },
        pin: args.pin,
        slot_description: None,
        with_card_serial: false,
        check_validity: false,
    })
}

/// A signature as the native protocol's result.
fn sign_result(out: SignOutput) -> SignResult {
    let b64 = base64::engine::general_purpose::STANDARD;
    SignResult {
        signature: b64.encode(&out.signature),
        format: match out.format {
            SignFormat::Pkcs1 => SignatureFormat::Pkcs1,
            SignFormat::Cms => SignatureFormat::Cms,
            SignFormat::CmsAttached => SignatureFormat::CmsAttached,
        },
        certificate: b64.encode(&out.certificate.info.der),
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("encoding a result: {e}")))
}
