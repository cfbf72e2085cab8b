//! The SmartPKI family: pages written for SmartPKI (展新資訊's extension and native module)
//! reach the agent through card-agent's extension, which turns their port messages into these
//! three commands. The agent's adapter (`card_agent::smartpki`) gives them SmartPKI's meaning.
//!
//! - `smartpki-open`: a page asked `navigator.connectSmartPKI()`. The agent admits the site (the
//!   same approval dialog as every channel), makes a fresh RSA key pair for the port and answers
//!   with the port's handle, the version pages check and the key's modulus.
//! - `smartpki-call`: one message of the page's chain (`info`, or a `sign` step such as
//!   `Initial`, `LoadCertificateByHca`, `Sign`, `Output`). The answer is SmartPKI's own reply
//!   object ([`SmartPkiReply`]): failures of the step are `errorCode`/`errorMessage` inside it,
//!   as pages expect; only a malformed call is a protocol error.
//! - `smartpki-close`: the page closed the port (or left); the agent wipes the port's key and
//!   everything it remembered.
//!
//! A port belongs to the connection and the origin that opened it: another origin naming the
//! same handle is refused.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::RequestError;
use super::json::Fields;
use super::limits::MAX_BASE64_CHARS;
use crate::SecretString;

/// Longest `pin` of a `smartpki-call`: the page sends either the PIN in clear (the agent's
/// 64-character input bound applies) or RSA(pin + "_PKI") as hex, 512 digits for the port's
/// 2048-bit key. Anything longer is not a PIN.
pub const MAX_SMARTPKI_PIN_CHARS: usize = 1024;
/// Longest `request` and `cmd` names (SmartPKI's longest is `LoadCertificateByHca`).
pub const MAX_SMARTPKI_NAME_CHARS: usize = 64;

/// Arguments of `smartpki-call` and `smartpki-close`: which port.
const CLOSE_ARGS: &[&str] = &["port"];
const CALL_ARGS: &[&str] = &[
    "port",
    "request",
    "cmd",
    "soltIndex",
    "driverType",
    "style",
    "pin",
    "content",
    "signTime",
    "format",
];
const ARGS: &str = "arguments.";

/// Arguments of `smartpki-call`: one message of a page's SmartPKI port, with the fields the
/// agent reads. Field names are SmartPKI's (including its spelling `soltIndex`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmartPkiCallArgs {
    /// The port's handle from `smartpki-open`.
    pub port: u64,
    /// The page's `smartpkiReq`: `info`, `sign`, `encrypt` or `decrypt` (the agent decides what
    /// it answers).
    pub request: String,
    /// The step of a chain (`cmd`), e.g. `Initial`, `Sign`; absent for `info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// `Initial`: the reader index, −1 for every reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solt_index: Option<i64>,
    /// `Initial`: 1 smart card, 2 nCipher HSM, 4 key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_type: Option<i64>,
    /// `Initial`: OpenSSL's PKCS7 flags (0x40 detached, 0x100 no signed attributes, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<i64>,
    /// `LoadCertificateByHca`, `Sign`, `ReadUserData`: the PIN, as hex of RSA(pin + "_PKI")
    /// under the port's key, or in clear when the page could not encrypt it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretString>,
    /// `LoadContent`, `LoadPkcs7`: the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `Sign`: the signing time, 0 for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_time: Option<i64>,
    /// `Output`: 64 for DER as base64, 3 for PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<i64>,
}

impl std::fmt::Debug for SmartPkiCallArgs {
    // `content` can be a megabyte: its length only. The PIN is redacted by `SecretString`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartPkiCallArgs")
            .field("port", &self.port)
            .field("request", &self.request)
            .field("cmd", &self.cmd)
            .field("solt_index", &self.solt_index)
            .field("driver_type", &self.driver_type)
            .field("style", &self.style)
            .field("pin", &self.pin)
            .field(
                "content",
                &self
                    .content
                    .as_ref()
                    .map(|c| format!("<{} chars>", c.len())),
            )
            .field("sign_time", &self.sign_time)
            .field("format", &self.format)
            .finish()
    }
}

/// Arguments of `smartpki-close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmartPkiCloseArgs {
    /// The port's handle from `smartpki-open`.
    pub port: u64,
}

/// The result of `smartpki-open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmartPkiOpenResult {
    /// The port's handle, for `smartpki-call` and `smartpki-close`.
    pub port: u64,
    /// The version pages compare with their minimum (`info`'s `version`).
    pub version: String,
    /// The port's RSA modulus, hex (public exponent 0x10001).
    pub modulus: String,
}

/// The result of `smartpki-close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SmartPkiCloseResult {
    /// Whether the port was open (closing an unknown port is not an error).
    pub closed: bool,
}

/// The certificate record SmartPKI pages read after `LoadCertificate`, `LoadCertificateByHca`
/// and `GetAll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Flattened into SmartPkiReply, so unknown fields cannot be refused here.
#[serde(rename_all = "camelCase")]
pub struct SmartPkiCertificate {
    /// The certificate, base64 DER.
    pub certificate: String,
    /// The subject DN as text.
    pub subject_name: String,
    /// The holder or organisation.
    pub name: String,
    /// National-ID last digits, business number or organisation code; empty when none.
    pub id: String,
    /// The subject's serialNumber attribute; empty when none.
    #[serde(rename = "subjectSN")]
    pub subject_sn: String,
    /// The certificate's serial number, upper-case hex.
    pub serial_number: String,
    /// The card's serial number.
    pub card_number: String,
    /// A name for the certificate.
    pub cert_name: String,
    /// The key algorithm as an OpenSSL NID (6 RSA, 408 EC), 0 when neither.
    pub algorithm_nid: u32,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// 1 main card, 2 attached card.
    pub is_main_card: u8,
    /// SmartPKI's certificate type 1 to 17, 0 when it cannot be told.
    pub cert_type: u8,
}

/// What `info` adds to a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Flattened into SmartPkiReply, so unknown fields cannot be refused here.
#[serde(rename_all = "camelCase")]
pub struct SmartPkiInfo {
    /// The version pages compare with their minimum.
    pub version: String,
    /// The port's RSA modulus, hex.
    pub modulus: String,
}

/// The result of `smartpki-call`: SmartPKI's reply `message`, without the `msgId` (the
/// extension echoes the page's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartPkiReply {
    /// 0 on success; otherwise the page shows `error_message`.
    pub error_code: u32,
    /// Empty on success; a message for people otherwise.
    pub error_message: String,
    /// `Output`'s signature, `ReadUserData`'s data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_value: Option<String>,
    /// `info`'s version and modulus.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub info: Option<SmartPkiInfo>,
    /// The certificate record.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<SmartPkiCertificate>,
}

impl SmartPkiReply {
    /// Success with nothing else to say.
    pub fn ok() -> Self {
        SmartPkiReply {
            error_code: 0,
            error_message: String::new(),
            return_value: None,
            info: None,
            certificate: None,
        }
    }

    /// A failure the page shows.
    pub fn error(code: u32, message: impl Into<String>) -> Self {
        SmartPkiReply {
            error_code: code,
            error_message: message.into(),
            ..SmartPkiReply::ok()
        }
    }
}

/// Parses `smartpki-call`'s arguments.
pub(crate) fn parse_call(
    map: serde_json::Map<String, Value>,
) -> Result<SmartPkiCallArgs, RequestError> {
    let mut f = Fields::new(ARGS, map, CALL_ARGS)?;
    let port = port(&mut f)?;
    Ok(SmartPkiCallArgs {
        port,
        request: f.string("request", MAX_SMARTPKI_NAME_CHARS)?,
        cmd: f.opt_string("cmd", MAX_SMARTPKI_NAME_CHARS)?,
        solt_index: f.opt_i64("soltIndex")?,
        driver_type: f.opt_i64("driverType")?,
        style: f.opt_i64("style")?,
        pin: f
            .opt_string("pin", MAX_SMARTPKI_PIN_CHARS)?
            .map(SecretString::new),
        content: f.opt_string("content", MAX_BASE64_CHARS)?,
        sign_time: f.opt_i64("signTime")?,
        format: f.opt_i64("format")?,
    })
}

/// Parses `smartpki-close`'s arguments.
pub(crate) fn parse_close(
    map: serde_json::Map<String, Value>,
) -> Result<SmartPkiCloseArgs, RequestError> {
    let mut f = Fields::new(ARGS, map, CLOSE_ARGS)?;
    Ok(SmartPkiCloseArgs {
        port: port(&mut f)?,
    })
}

fn port(f: &mut Fields) -> Result<u64, RequestError> {
    let field = f.field_path("port");
    match f.opt_i64("port")? {
        Some(p) if p > 0 => Ok(p.unsigned_abs()),
        Some(_) => Err(RequestError::InvalidValue {
            field,
            reason: "must be a positive integer".to_owned(),
        }),
        None => Err(RequestError::MissingField { field }),
    }
}
