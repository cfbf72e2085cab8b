//! One SmartPKI message, read: which step of the chain it is and the arguments that step
//! uses. The page's names are SmartPKI's; [`Step::parse`] is the one place they are known.

use card_agent_protocol::message::SmartPkiCallArgs;
use card_agent_protocol::secret::SecretString;

use super::codes::ChainError;

/// OpenSSL's PKCS7 flags, as pages pass them in `Initial`'s `style`.
pub mod style {
    /// `PKCS7_DETACHED`: the content is not inside the signature.
    pub const DETACHED: i64 = 0x40;
    /// `PKCS7_BINARY`: no MIME canonicalisation (the agent never does any).
    pub const BINARY: i64 = 0x80;
    /// `PKCS7_NOATTR`: no signed attributes.
    pub const NOATTR: i64 = 0x100;
    /// `PKCS7_NOSMIMECAP`: no SMIMECapabilities attribute (the agent never adds one).
    pub const NOSMIMECAP: i64 = 0x200;
    /// `PKCS7_NOCHAIN`, `PKCS7_NOINTERN`, `PKCS7_NOVERIFY`: verification flags, no effect on
    /// signing.
    pub const VERIFY_ONLY: i64 = 0x8 | 0x10 | 0x20;
    /// Every flag the agent honours.
    pub const SUPPORTED: i64 = DETACHED | BINARY | NOATTR | NOSMIMECAP | VERIFY_ONLY;
}

/// How the signature is shaped, from `Initial`'s `style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// The content stays outside the SignedData.
    pub detached: bool,
    /// The SignerInfo carries signed attributes (contentType, messageDigest, signingTime).
    pub signed_attributes: bool,
}

impl Style {
    /// Reads the flags; refuses one the agent cannot honour rather than ignore it.
    pub fn from_flags(flags: i64) -> Result<Self, ChainError> {
        if flags < 0 || flags & !style::SUPPORTED != 0 {
            return Err(ChainError::UnsupportedStyle(flags));
        }
        Ok(Style {
            detached: flags & style::DETACHED != 0,
            signed_attributes: flags & style::NOATTR == 0,
        })
    }
}

/// Which readers `Initial` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// −1: every reader (the only card present, or a choice).
    Any,
    /// A reader by its position in the agent's list of cards.
    Index(usize),
}

/// `Initial`'s only supported driver: a smart card (2 is an nCipher HSM, 4 a key file).
const DRIVER_SMART_CARD: i64 = 1;

/// `Output`'s formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// 64: DER as base64.
    Base64,
    /// 3: PEM.
    Pem,
}

/// One message of a page's port.
#[derive(Debug)]
pub enum Step {
    /// `info`: the version and the port's modulus.
    Info,
    /// `Initial`: start a chain.
    Initial {
        /// Which reader.
        slot: Slot,
        /// The signature's shape.
        style: Style,
    },
    /// `LoadCertificate`.
    LoadCertificate,
    /// `LoadCertificateByHca`: the PIN first (HCA cards need it to read), then the record.
    LoadCertificateByHca {
        /// The PIN as the page sent it.
        pin: Option<SecretString>,
    },
    /// `LoadContent`: the text to sign.
    LoadContent {
        /// The text (signed as its UTF-8 bytes).
        content: String,
    },
    /// `LoadPkcs7`.
    LoadPkcs7,
    /// `Sign`.
    Sign {
        /// The PIN as the page sent it.
        pin: Option<SecretString>,
        /// Unix seconds; `None` for now (the page's 0).
        sign_time: Option<i64>,
    },
    /// `Output`.
    Output {
        /// How.
        format: OutputFormat,
    },
    /// `ReadUserData`.
    ReadUserData,
    /// `GetAll`: the record again.
    GetAll,
    /// `Close`: end the chain (the port stays open).
    Close,
}

impl Step {
    /// Reads one message. A step the agent does not do, or arguments it cannot honour, are
    /// [`ChainError`]s, which the page shows like any failure of the step.
    pub fn parse(args: SmartPkiCallArgs) -> Result<Step, ChainError> {
        match args.request.as_str() {
            "info" => return Ok(Step::Info),
            "sign" => {}
            "encrypt" | "decrypt" => return Err(ChainError::CipherUnsupported),
            _ => return Err(ChainError::UnknownCommand),
        }
        let Some(cmd) = args.cmd.as_deref() else {
            return Err(ChainError::UnknownCommand);
        };
        Ok(match cmd {
            "Initial" => {
                let driver = args.driver_type.unwrap_or(DRIVER_SMART_CARD);
                if driver != DRIVER_SMART_CARD {
                    return Err(ChainError::UnsupportedDriver(driver));
                }
                let slot = match args.solt_index.unwrap_or(-1) {
                    -1 => Slot::Any,
                    n => Slot::Index(usize::try_from(n).map_err(|_| ChainError::UnknownCommand)?),
                };
                Step::Initial {
                    slot,
                    style: Style::from_flags(args.style.unwrap_or(0))?,
                }
            }
            "LoadCertificate" => Step::LoadCertificate,
            "LoadCertificateByHca" => Step::LoadCertificateByHca { pin: args.pin },
            "LoadContent" => Step::LoadContent {
                content: args.content.unwrap_or_default(),
            },
            "LoadPkcs7" => Step::LoadPkcs7,
            "Sign" => Step::Sign {
                pin: args.pin,
                sign_time: args.sign_time.filter(|t| *t != 0),
            },
            "Output" => Step::Output {
                format: match args.format {
                    Some(64) => OutputFormat::Base64,
                    Some(3) => OutputFormat::Pem,
                    other => return Err(ChainError::UnsupportedFormat(other.unwrap_or(0))),
                },
            },
            "ReadUserData" => Step::ReadUserData,
            "GetAll" => Step::GetAll,
            "Close" => Step::Close,
            _ => return Err(ChainError::UnknownCommand),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(request: &str, cmd: Option<&str>) -> SmartPkiCallArgs {
        SmartPkiCallArgs {
            port: 1,
            request: request.to_owned(),
            cmd: cmd.map(str::to_owned),
            ..SmartPkiCallArgs::default()
        }
    }

    #[test]
    fn the_sample_pages_initial() {
        let mut args = call("sign", Some("Initial"));
        args.solt_index = Some(-1);
        args.driver_type = Some(1);
        args.style = Some(style::DETACHED | style::NOATTR);
        let Step::Initial { slot, style } = Step::parse(args).unwrap() else {
            panic!("not Initial");
        };
        assert_eq!(slot, Slot::Any);
        assert_eq!(
            style,
            Style {
                detached: true,
                signed_attributes: false
            }
        );
    }

    #[test]
    fn styles_the_agent_cannot_honour_are_refused() {
        assert_eq!(
            Style::from_flags(0).unwrap(),
            Style {
                detached: false,
                signed_attributes: true
            }
        );
        assert!(Style::from_flags(style::BINARY | style::DETACHED).is_ok());
        for flags in [0x1, 0x2, 0x4, 0x800, 0x10000, -1] {
            assert_eq!(
                Style::from_flags(flags).unwrap_err(),
                ChainError::UnsupportedStyle(flags)
            );
        }
    }

    #[test]
    fn other_drivers_formats_and_commands() {
        let mut args = call("sign", Some("Initial"));
        args.driver_type = Some(4);
        assert_eq!(
            Step::parse(args).unwrap_err(),
            ChainError::UnsupportedDriver(4)
        );
        let mut args = call("sign", Some("Output"));
        args.format = Some(1);
        assert_eq!(
            Step::parse(args).unwrap_err(),
            ChainError::UnsupportedFormat(1)
        );
        let mut args = call("sign", Some("Output"));
        args.format = Some(64);
        assert!(matches!(
            Step::parse(args).unwrap(),
            Step::Output {
                format: OutputFormat::Base64
            }
        ));
        assert_eq!(
            Step::parse(call("encrypt", Some("Initial"))).unwrap_err(),
            ChainError::CipherUnsupported
        );
        assert_eq!(
            Step::parse(call("sign", Some("Frobnicate"))).unwrap_err(),
            ChainError::UnknownCommand
        );
        assert_eq!(
            Step::parse(call("sign", None)).unwrap_err(),
            ChainError::UnknownCommand
        );
        assert_eq!(
            Step::parse(call("other", None)).unwrap_err(),
            ChainError::UnknownCommand
        );
        assert!(matches!(
            Step::parse(call("info", None)).unwrap(),
            Step::Info
        ));
    }

    #[test]
    fn sign_time_zero_is_now() {
        let mut args = call("sign", Some("Sign"));
        args.sign_time = Some(0);
        assert!(matches!(
            Step::parse(args).unwrap(),
            Step::Sign {
                sign_time: None,
                ..
            }
        ));
    }
}
