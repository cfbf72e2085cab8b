//! The commands a client may send, one typed argument struct each, and their strict parsing.
//!
//! The structs derive serde (`deny_unknown_fields`, camelCase) so Rust clients can build
//! requests and anyone can read them with plain serde; the agent itself parses through
//! [`parse_command`], which gives errors that name the field and never echo a value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::RequestError;
use super::json::{type_name, Fields};
use super::limits::{
    MAX_BASE64_CHARS, MAX_NONCE_CHARS, MAX_ORIGIN_CHARS, MAX_PIN_CHARS, MAX_TOKEN_SERIAL_CHARS,
    THUMBPRINT_HEX_CHARS,
};
use crate::auth::{check_nonce, NonceError};
use crate::encoding::decode_base64;
use crate::SecretString;

/// Every command's wire name, in the order of [`Command`]'s variants.
pub const COMMAND_NAMES: &[&str] = &[
    "version",
    "status",
    "get-certificates",
    "verify-pin",
    "sign",
    "authenticate",
    "subscribe",
    "unsubscribe",
    "legacy-request",
    "self-test-sign",
    "environment-check",
    "trusted-sites",
    "remove-trusted-site",
    "smartpki-open",
    "smartpki-call",
    "smartpki-close",
];

/// A parsed command with its arguments. Commands without arguments accept `"arguments": {}`
/// or no `arguments` at all, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `version`: the agent's version and protocol number. Result: [`super::VersionResult`].
    Version,
    /// `status`: readers, tokens and modules. Result: [`super::StatusResult`].
    Status,
    /// `get-certificates`: every certificate on every token. Result:
    /// [`super::CertificatesResult`].
    GetCertificates,
    /// `verify-pin`: check a PIN without signing. Result: [`super::VerifyPinResult`].
    VerifyPin(VerifyPinArgs),
    /// `sign`: sign a hash or data with the named certificate's key. Result:
    /// [`super::SignResult`].
    Sign(SignArgs),
    /// `authenticate`: sign an origin-bound challenge. Result: [`crate::auth::AuthToken`].
    Authenticate(AuthenticateArgs),
    /// `subscribe`: start receiving reader and card events on this connection. Result:
    /// [`super::SubscriptionResult`].
    Subscribe,
    /// `unsubscribe`: stop receiving them. Result: [`super::SubscriptionResult`].
    Unsubscribe,
    /// `legacy-request`: a call a page made to the legacy HiPKI API on localhost:61161,
    /// carried by the extension so the browser needs no local-network permission. Result:
    /// [`super::LegacyResult`].
    LegacyRequest(LegacyRequestArgs),
    /// `self-test-sign`: the self-test's "sign and verify" (the user's own tools only; refused
    /// for web pages). Result: [`super::SelfTestSignResult`].
    SelfTestSign(SelfTestSignArgs),
    /// `environment-check`: the agent's environment check report (local clients and the
    /// extension's own pages only). Result: the report documented in the README.
    EnvironmentCheck,
    /// `trusted-sites`: the sites the user approved and the configured patterns. Local clients
    /// only (the tray, the command line): refused when the request carries an `origin`.
    /// Result: [`super::TrustedSitesResult`].
    TrustedSites,
    /// `remove-trusted-site`: withdraw the user's approval of one site. Local clients only.
    /// Result: [`super::RemoveTrustedSiteResult`].
    RemoveTrustedSite(RemoveTrustedSiteArgs),
    /// `smartpki-open`: a SmartPKI page opens a port (pages only; see [`super::smartpki`]).
    /// Result: [`super::SmartPkiOpenResult`].
    SmartPkiOpen,
    /// `smartpki-call`: one message on a SmartPKI port. Result: [`super::SmartPkiReply`].
    SmartPkiCall(super::SmartPkiCallArgs),
    /// `smartpki-close`: the page closed its SmartPKI port. Result:
    /// [`super::SmartPkiCloseResult`].
    SmartPkiClose(super::SmartPkiCloseArgs),
}

impl Command {
    /// The wire name, e.g. `get-certificates`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Version => "version",
            Command::Status => "status",
            Command::GetCertificates => "get-certificates",
            Command::VerifyPin(_) => "verify-pin",
            Command::Sign(_) => "sign",
            Command::Authenticate(_) => "authenticate",
            Command::Subscribe => "subscribe",
            Command::Unsubscribe => "unsubscribe",
            Command::LegacyRequest(_) => "legacy-request",
            Command::SelfTestSign(_) => "self-test-sign",
            Command::EnvironmentCheck => "environment-check",
            Command::TrustedSites => "trusted-sites",
            Command::RemoveTrustedSite(_) => "remove-trusted-site",
            Command::SmartPkiOpen => "smartpki-open",
            Command::SmartPkiCall(_) => "smartpki-call",
            Command::SmartPkiClose(_) => "smartpki-close",
        }
    }
}

/// Arguments of `verify-pin`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyPinArgs {
    /// Serial of the token to check (at most [`MAX_TOKEN_SERIAL_CHARS`]); the agent asks the
    /// user to choose when absent and several are present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The PIN (at most [`MAX_PIN_CHARS`]), for local clients that collected it themselves;
    /// absent from pages, where the agent asks in its own dialog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretString>,
}

/// A hash algorithm, by its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashAlgorithm {
    /// `SHA-1`: only for legacy relying parties.
    #[serde(rename = "SHA-1")]
    Sha1,
    /// `SHA-256`.
    #[serde(rename = "SHA-256")]
    Sha256,
    /// `SHA-384`.
    #[serde(rename = "SHA-384")]
    Sha384,
    /// `SHA-512`.
    #[serde(rename = "SHA-512")]
    Sha512,
}

impl HashAlgorithm {
    /// Every algorithm, in wire-name order.
    pub const ALL: &'static [HashAlgorithm] = &[
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// The wire name, e.g. `SHA-256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha384 => "SHA-384",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }

    /// Parses the exact wire name (no other spellings: a page that gets it wrong is told so).
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

/// What a `sign` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignatureFormat {
    /// `pkcs1`: the bare signature (RSASSA-PKCS1-v1_5, or a DER ECDSA-Sig-Value for EC keys).
    #[serde(rename = "pkcs1")]
    Pkcs1,
    /// `cms`: a detached CMS SignedData (content not included).
    #[serde(rename = "cms")]
    Cms,
    /// `cms-attached`: a CMS SignedData that includes the content; needs `data`.
    #[serde(rename = "cms-attached")]
    CmsAttached,
}

impl SignatureFormat {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureFormat::Pkcs1 => "pkcs1",
            SignatureFormat::Cms => "cms",
            SignatureFormat::CmsAttached => "cms-attached",
        }
    }

    /// Parses the wire name.
    pub fn from_wire(s: &str) -> Option<Self> {
        [Self::Pkcs1, Self::Cms, Self::CmsAttached]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// Arguments of `sign`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignArgs {
    /// SHA-256 thumbprint of the certificate the caller expects to sign with, 64 hex digits
    /// (normalised to lower case by the parser). The agent refuses if the card's differs.
    pub certificate: String,
    /// The digest to sign, base64; its decoded length must match `hash_algorithm`. Exactly one
    /// of `hash` and `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The content to hash and sign, base64 (bounded by the frame: at most
    /// [`MAX_BASE64_CHARS`]). Exactly one of `hash` and `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The digest algorithm (of `hash`, or to apply to `data`).
    pub hash_algorithm: HashAlgorithm,
    /// The output format.
    pub format: SignatureFormat,
    /// A caller nonce, base64, at most [`MAX_NONCE_CHARS`]; the agent logs it with the
    /// operation so a relying party can match its records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The PIN, for local clients only (see [`VerifyPinArgs::pin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretString>,
}

/// What a `sign` signs, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInput {
    /// A digest computed by the caller.
    Hash(Vec<u8>),
    /// Content for the agent to hash.
    Data(Vec<u8>),
}

impl SignArgs {
    /// Decodes `hash` or `data`, re-checking the rules [`parse_command`] enforces (the fields
    /// are public, so the struct may have been built by hand).
    pub fn input(&self) -> Result<SignInput, RequestError> {
        check_sign_rules(self)
    }
}

impl std::fmt::Debug for SignArgs {
    // `data` can be a megabyte: show its length, not its content, so a logged request stays
    // readable. The PIN is redacted by `SecretString`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignArgs")
            .field("certificate", &self.certificate)
            .field("hash", &self.hash)
            .field(
                "data",
                &self
                    .data
                    .as_ref()
                    .map(|d| format!("<{} base64 chars>", d.len())),
            )
            .field("hash_algorithm", &self.hash_algorithm)
            .field("format", &self.format)
            .field("nonce", &self.nonce)
            .field("pin", &self.pin)
            .finish()
    }
}

/// Arguments of `authenticate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthenticateArgs {
    /// The server's challenge: base64 of at least 32 random bytes, at most [`MAX_NONCE_CHARS`]
    /// (see [`crate::auth::check_nonce`]).
    pub challenge_nonce: String,
    /// SHA-256 thumbprint of the certificate to authenticate with, when the page knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The PIN, for local clients only (see [`VerifyPinArgs::pin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretString>,
}

/// Arguments of `legacy-request`: the HTTP request the page made, minus everything the page
/// controls that the agent must not trust (the origin comes from the request's `origin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacyRequestArgs {
    /// `GET` or `POST`.
    pub method: String,
    /// Path and query, e.g. `/pkcs11info?withcert=true`. At most [`MAX_LEGACY_PATH_CHARS`].
    pub path: String,
    /// The form body of a POST (`tbsPackage=...`). It may hold the page's PIN, so it is kept
    /// as a secret. At most [`MAX_BASE64_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<SecretString>,
}

/// Arguments of `self-test-sign`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelfTestSignArgs {
    /// SHA-256 thumbprint of the certificate to test; absent means the only signing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The PIN, when typed in the self-test page (else the agent's dialog asks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretString>,
}

/// Arguments of `remove-trusted-site`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoveTrustedSiteArgs {
    /// The approved site's origin, as `trusted-sites` lists it (`https://example.gov.tw`):
    /// printable ASCII, at most [`MAX_ORIGIN_CHARS`] characters. The agent parses it as an
    /// origin; this is the site to forget, not the caller's origin.
    pub site: String,
}

/// Longest legacy path with its query.
pub const MAX_LEGACY_PATH_CHARS: usize = 2048;

const NO_ARGS: &[&str] = &[];
const LEGACY_ARGS: &[&str] = &["method", "path", "body"];
const SELF_TEST_ARGS: &[&str] = &["certificate", "pin"];
const REMOVE_TRUSTED_SITE_ARGS: &[&str] = &["site"];
const VERIFY_PIN_ARGS: &[&str] = &["token", "pin"];
const SIGN_ARGS: &[&str] = &[
    "certificate",
    "hash",
    "data",
    "hashAlgorithm",
    "format",
    "nonce",
    "pin",
];
const AUTHENTICATE_ARGS: &[&str] = &["challengeNonce", "certificate", "pin"];

const ARGS: &str = "arguments.";

/// Parses a command from its wire name and its `arguments` value (`None` when absent).
pub fn parse_command(name: &str, arguments: Option<Value>) -> Result<Command, RequestError> {
    let map = match arguments {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(RequestError::WrongType {
                field: "arguments".to_owned(),
                expected: "an object",
                found: type_name(&other),
            })
        }
    };
    let command = match name {
        "version" => no_args(map, Command::Version)?,
        "status" => no_args(map, Command::Status)?,
        "get-certificates" => no_args(map, Command::GetCertificates)?,
        "subscribe" => no_args(map, Command::Subscribe)?,
        "unsubscribe" => no_args(map, Command::Unsubscribe)?,
        "environment-check" => no_args(map, Command::EnvironmentCheck)?,
        "trusted-sites" => no_args(map, Command::TrustedSites)?,
        "smartpki-open" => no_args(map, Command::SmartPkiOpen)?,
        "smartpki-call" => Command::SmartPkiCall(super::smartpki::parse_call(map)?),
        "smartpki-close" => Command::SmartPkiClose(super::smartpki::parse_close(map)?),
        "remove-trusted-site" => {
            let mut f = Fields::new(ARGS, map, REMOVE_TRUSTED_SITE_ARGS)?;
            let site = f.string("site", MAX_ORIGIN_CHARS)?;
            if site.is_empty() || !site.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(RequestError::InvalidValue {
                    field: f.field_path("site"),
                    reason: "must be an origin such as https://example.gov.tw (printable ASCII, \
                             no spaces)"
                        .to_owned(),
                });
            }
            Command::RemoveTrustedSite(RemoveTrustedSiteArgs { site })
        }
        "legacy-request" => {
            let mut f = Fields::new(ARGS, map, LEGACY_ARGS)?;
            let method = f.string("method", 8)?;
            if method != "GET" && method != "POST" {
                return Err(RequestError::InvalidValue {
                    field: f.field_path("method"),
                    reason: "must be GET or POST".to_owned(),
                });
            }
            let path = f.string("path", MAX_LEGACY_PATH_CHARS)?;
            if !path.starts_with('/') || path.chars().any(char::is_control) {
                return Err(RequestError::InvalidValue {
                    field: f.field_path("path"),
                    reason: "must be a path starting with /".to_owned(),
                });
            }
            Command::LegacyRequest(LegacyRequestArgs {
                method,
                path,
                body: f
                    .opt_string("body", MAX_BASE64_CHARS)?
                    .map(SecretString::new),
            })
        }
        "self-test-sign" => {
            let mut f = Fields::new(ARGS, map, SELF_TEST_ARGS)?;
            let certificate = match f.opt_string("certificate", THUMBPRINT_HEX_CHARS)? {
                Some(c) => Some(thumbprint(&f, "certificate", c)?),
                None => None,
            };
            Command::SelfTestSign(SelfTestSignArgs {
                certificate,
                pin: f.opt_string("pin", MAX_PIN_CHARS)?.map(SecretString::new),
            })
        }
        "verify-pin" => {
            let mut f = Fields::new(ARGS, map, VERIFY_PIN_ARGS)?;
            Command::VerifyPin(VerifyPinArgs {
                token: f.opt_string("token", MAX_TOKEN_SERIAL_CHARS)?,
                pin: f.opt_string("pin", MAX_PIN_CHARS)?.map(SecretString::new),
            })
        }
        "sign" => {
            let mut f = Fields::new(ARGS, map, SIGN_ARGS)?;
            let certificate = f.string("certificate", THUMBPRINT_HEX_CHARS)?;
            let args = SignArgs {
                certificate: thumbprint(&f, "certificate", certificate)?,
                hash: f.opt_string("hash", MAX_BASE64_CHARS)?,
                data: f.opt_string("data", MAX_BASE64_CHARS)?,
                hash_algorithm: {
                    let s = f.string("hashAlgorithm", 16)?;
                    HashAlgorithm::from_wire(&s).ok_or_else(|| RequestError::InvalidValue {
                        field: f.field_path("hashAlgorithm"),
                        reason: "must be one of SHA-1, SHA-256, SHA-384, SHA-512".to_owned(),
                    })?
                },
                format: {
                    let s = f.string("format", 16)?;
                    SignatureFormat::from_wire(&s).ok_or_else(|| RequestError::InvalidValue {
                        field: f.field_path("format"),
                        reason: "must be one of pkcs1, cms, cms-attached".to_owned(),
                    })?
                },
                nonce: match f.opt_string("nonce", MAX_NONCE_CHARS)? {
                    Some(n) => {
                        base64_field(&f, "nonce", &n)?;
                        Some(n)
                    }
                    None => None,
                },
                pin: f.opt_string("pin", MAX_PIN_CHARS)?.map(SecretString::new),
            };
            check_sign_rules(&args)?;
            Command::Sign(args)
        }
        "authenticate" => {
            let mut f = Fields::new(ARGS, map, AUTHENTICATE_ARGS)?;
            let challenge_nonce = f.string("challengeNonce", MAX_NONCE_CHARS)?;
            check_nonce(&challenge_nonce).map_err(|e| nonce_error(&f, e))?;
            let certificate = match f.opt_string("certificate", THUMBPRINT_HEX_CHARS)? {
                Some(c) => Some(thumbprint(&f, "certificate", c)?),
                None => None,
            };
            Command::Authenticate(AuthenticateArgs {
                challenge_nonce,
                certificate,
                pin: f.opt_string("pin", MAX_PIN_CHARS)?.map(SecretString::new),
            })
        }
        other => {
            return Err(RequestError::UnknownCommand {
                command: super::json::quote_key(other),
            })
        }
    };
    Ok(command)
}

fn no_args(map: serde_json::Map<String, Value>, command: Command) -> Result<Command, RequestError> {
    Fields::new(ARGS, map, NO_ARGS)?;
    Ok(command)
}

/// Checks a SHA-256 thumbprint (64 hex digits) and normalises it to lower case, the form
/// [`crate::types::Certificate::sha256`] uses.
fn thumbprint(f: &Fields, field: &str, value: String) -> Result<String, RequestError> {
    if value.len() == THUMBPRINT_HEX_CHARS && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(RequestError::InvalidValue {
            field: f.field_path(field),
            reason: "must be the certificate's SHA-256 thumbprint: 64 hexadecimal digits"
                .to_owned(),
        })
    }
}

fn base64_field(f: &Fields, field: &str, value: &str) -> Result<Vec<u8>, RequestError> {
    decode_base64(value).map_err(|_| RequestError::InvalidValue {
        field: f.field_path(field),
        reason: "must be base64 (standard or URL-safe alphabet, padding optional)".to_owned(),
    })
}

fn nonce_error(f: &Fields, e: NonceError) -> RequestError {
    let field = f.field_path("challengeNonce");
    match e {
        NonceError::TooLong { max_chars, .. } => RequestError::TooLong { field, max_chars },
        other => RequestError::InvalidValue {
            field,
            reason: other.to_string(),
        },
    }
}

/// The cross-field rules of `sign`: exactly one of hash/data, base64 that decodes, a hash of
/// the algorithm's length, and `cms-attached` only with data (it embeds the content).
fn check_sign_rules(args: &SignArgs) -> Result<SignInput, RequestError> {
    let path = |field: &str| format!("{ARGS}{field}");
    let invalid = |field: &str, reason: String| RequestError::InvalidValue {
        field: path(field),
        reason,
    };
    let decode = |field: &str, value: &str| {
        decode_base64(value).map_err(|_| {
            invalid(
                field,
                "must be base64 (standard or URL-safe alphabet, padding optional)".to_owned(),
            )
        })
    };
    match (&args.hash, &args.data) {
        (Some(hash), None) => {
            if args.format == SignatureFormat::CmsAttached {
                return Err(invalid(
                    "hash",
                    "cannot be used with format cms-attached, which embeds the content: send \
                     `data` instead"
                        .to_owned(),
                ));
            }
            let bytes = decode("hash", hash)?;
            let want = args.hash_algorithm.output_len();
            if bytes.len() != want {
                return Err(invalid(
                    "hash",
                    format!(
                        "decodes to {} bytes, but a {} digest is {want} bytes",
                        bytes.len(),
                        args.hash_algorithm.as_str()
                    ),
                ));
            }
            Ok(SignInput::Hash(bytes))
        }
        (None, Some(data)) => {
            let bytes = decode("data", data)?;
            if bytes.is_empty() {
                return Err(invalid("data", "must not be empty".to_owned()));
            }
            Ok(SignInput::Data(bytes))
        }
        _ => Err(RequestError::ExactlyOneOf {
            first: path("hash"),
            second: path("data"),
        }),
    }
}
