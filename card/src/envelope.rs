//! CMS EnvelopedData (RFC 5652 §6), read for the legacy `DecryptData` with `cipherType:"PKCS7"`.
//!
//! A site encrypts for the card holder's encryption certificate: a random content key encrypts
//! the data, and the content key is encrypted with the certificate's RSA key (key transport,
//! PKCS#1 v1.5). Opening it takes two steps, split so that the card does only what needs the
//! card: [`Envelope::parse`] reads everything and checks the algorithms *before* any PIN is
//! asked for, the card unwraps [`Envelope::encrypted_key`] (a PKCS#1 decrypt on the card), and
//! [`Envelope::open`] decrypts the content with that key.
//!
//! Content ciphers: DES-EDE3-CBC (what Chunghwa Telecom's published sample encrypts with,
//! BouncyCastle's `CMSAlgorithm.DES_EDE3_CBC`) and AES-128/192/256-CBC (openssl's and current
//! libraries' choices). Key transport: rsaEncryption only, as a card's raw `CKM_RSA_PKCS`
//! decrypt is all HiCOS offers; RSA-OAEP, key agreement and password recipients are refused.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientIdentifier, RecipientInfo};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use zeroize::Zeroizing;

/// id-envelopedData.
const ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
/// rsaEncryption: RSAES-PKCS1-v1_5 key transport.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
const AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

/// Why an envelope cannot be opened. Each maps to one of HiPKI's decryption codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not DER, or not the structure RFC 5652 describes.
    #[error("the ciphertext is not a CMS EnvelopedData structure: {0}")]
    Der(String),
    /// Well-formed, but of a kind this agent cannot open (algorithm, recipient kind).
    #[error("the envelope uses {0}, which card-agent cannot open")]
    Type(String),
    /// The content did not decrypt with the key the card unwrapped (wrong key or damaged).
    #[error("the content could not be decrypted with the card's key")]
    Decrypt,
}

/// The content cipher of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCipher {
    /// Triple DES (three keys), CBC.
    DesEde3Cbc,
    /// AES with a 128-bit key, CBC.
    Aes128Cbc,
    /// AES with a 192-bit key, CBC.
    Aes192Cbc,
    /// AES with a 256-bit key, CBC.
    Aes256Cbc,
}

impl ContentCipher {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Some(match *oid {
            DES_EDE3_CBC => ContentCipher::DesEde3Cbc,
            AES128_CBC => ContentCipher::Aes128Cbc,
            AES192_CBC => ContentCipher::Aes192Cbc,
            AES256_CBC => ContentCipher::Aes256Cbc,
            _ => return None,
        })
    }

    fn iv_len(self) -> usize {
        match self {
            ContentCipher::DesEde3Cbc => 8,
            _ => 16,
        }
    }
}

/// Who an encrypted key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Recipient {
    /// The certificate's issuer (DER of the Name) and serial number (DER contents).
    IssuerSerial { issuer: Vec<u8>, serial: Vec<u8> },
    /// The certificate's subject key identifier.
    KeyId(Vec<u8>),
}

/// A parsed envelope whose algorithms card-agent can open.
#[derive(Debug, Clone)]
pub struct Envelope {
    recipients: Vec<(Recipient, Vec<u8>)>,
    cipher: ContentCipher,
    iv: Vec<u8>,
    content: Vec<u8>,
}

/// Largest envelope read (the legacy request body bounds it too).
pub const MAX_ENVELOPE: usize = 2 * 1024 * 1024;

impl Envelope {
    /// Reads a DER ContentInfo holding EnvelopedData (what openssl, BouncyCastle and HiPKI's
    /// samples produce), or a bare EnvelopedData.
    pub fn parse(der: &[u8]) -> Result<Self, EnvelopeError> {
        if der.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::Der("too large".to_owned()));
        }
        let enveloped = match ContentInfo::from_der(der) {
            Ok(info) => {
                if info.content_type != ENVELOPED_DATA {
                    return Err(EnvelopeError::Type(format!(
                        "content type {}",
                        info.content_type
                    )));
                }
                info.content
                    .decode_as::<EnvelopedData>()
                    .map_err(|e| EnvelopeError::Der(e.to_string()))?
            }
            Err(first) => {
                EnvelopedData::from_der(der).map_err(|_| EnvelopeError::Der(first.to_string()))?
            }
        };
        let mut recipients = Vec::new();
        for info in enveloped.recip_infos.0.iter() {
            // Other recipient kinds may sit beside ours (a server often encrypts for itself
            // too); only key transport can be for a card.
            let RecipientInfo::Ktri(ktri) = info else {
                continue;
            };
            if ktri.key_enc_alg.oid != RSA_ENCRYPTION {
                continue;
            }
            let rid = match &ktri.rid {
                RecipientIdentifier::IssuerAndSerialNumber(ias) => Recipient::IssuerSerial {
                    issuer: ias
                        .issuer
                        .to_der()
                        .map_err(|e| EnvelopeError::Der(e.to_string()))?,
                    serial: ias.serial_number.as_bytes().to_vec(),
                },
                RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                    Recipient::KeyId(ski.0.as_bytes().to_vec())
                }
            };
            recipients.push((rid, ktri.enc_key.as_bytes().to_vec()));
        }
        if recipients.is_empty() {
            return Err(EnvelopeError::Type(
                "no RSA (PKCS#1 v1.5) key-transport recipient".to_owned(),
            ));
        }
        let eci = &enveloped.encrypted_content;
        let alg = &eci.content_enc_alg;
        let cipher = ContentCipher::from_oid(&alg.oid)
            .ok_or_else(|| EnvelopeError::Type(format!("content cipher {}", alg.oid)))?;
        let iv = alg
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::OctetString>().ok())
            .map(|o| o.as_bytes().to_vec())
            .filter(|iv| iv.len() == cipher.iv_len())
            .ok_or_else(|| EnvelopeError::Der("the content cipher has no valid IV".to_owned()))?;
        let content = eci
            .encrypted_content
            .as_ref()
            .map(|c| c.as_bytes().to_vec())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| EnvelopeError::Der("the encrypted content is absent".to_owned()))?;
        Ok(Envelope {
            recipients,
            cipher,
            iv,
            content,
        })
    }

    /// The content cipher.
    pub fn cipher(&self) -> ContentCipher {
        self.cipher
    }

    /// The encrypted content key for the certificate `cert_der`, when the envelope names it.
    /// With a single key-transport recipient that names another certificate, `None`: the card
    /// is never asked to decrypt what was not made for it.
    pub fn encrypted_key(&self, cert_der: &[u8]) -> Option<&[u8]> {
        let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
        let tbs = &cert.tbs_certificate;
        let issuer = tbs.issuer.to_der().ok()?;
        let serial = tbs.serial_number.as_bytes();
        let ski = subject_key_id(&cert);
        self.recipients
            .iter()
            .find(|(rid, _)| match rid {
                Recipient::IssuerSerial {
                    issuer: i,
                    serial: s,
                } => *i == issuer && s == serial,
                Recipient::KeyId(id) => ski.as_deref() == Some(id.as_slice()),
            })
            .map(|(_, key)| key.as_slice())
    }

    /// Decrypts the content with the content key the card unwrapped.
    pub fn open(&self, key: &[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        let bad = |_| EnvelopeError::Decrypt;
        let plain = match self.cipher {
            ContentCipher::DesEde3Cbc => {
                cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, &self.iv)
                    .map_err(bad)?
                    .decrypt_padded_vec_mut::<Pkcs7>(&self.content)
            }
            ContentCipher::Aes128Cbc => {
                cbc::Decryptor::<aes::Aes128>::new_from_slices(key, &self.iv)
                    .map_err(bad)?
                    .decrypt_padded_vec_mut::<Pkcs7>(&self.content)
            }
            ContentCipher::Aes192Cbc => {
                cbc::Decryptor::<aes::Aes192>::new_from_slices(key, &self.iv)
                    .map_err(bad)?
                    .decrypt_padded_vec_mut::<Pkcs7>(&self.content)
            }
            ContentCipher::Aes256Cbc => {
                cbc::Decryptor::<aes::Aes256>::new_from_slices(key, &self.iv)
                    .map_err(bad)?
                    .decrypt_padded_vec_mut::<Pkcs7>(&self.content)
            }
        };
        plain
            .map(Zeroizing::new)
            .map_err(|_| EnvelopeError::Decrypt)
    }
}

/// The certificate's subject key identifier extension, when it has one.
fn subject_key_id(cert: &x509_cert::Certificate) -> Option<Vec<u8>> {
    const SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == SKI)
        .and_then(|e| der::asn1::OctetString::from_der(e.extn_value.as_bytes()).ok())
        .map(|o| o.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_other_structures_are_refused_before_any_card_work() {
        assert!(matches!(
            Envelope::parse(b"not der"),
            Err(EnvelopeError::Der(_))
        ));
        assert!(matches!(Envelope::parse(&[]), Err(EnvelopeError::Der(_))));
        // A ContentInfo of another type (id-data with an empty octet string).
        let data = [
            0x30, 0x0f, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0,
            0x02, 0x04, 0x00,
        ];
        assert!(matches!(
            Envelope::parse(&data),
            Err(EnvelopeError::Type(_))
        ));
    }

    #[test]
    fn a_wrong_key_fails_as_decrypt_never_as_plaintext() {
        let e = Envelope {
            recipients: Vec::new(),
            cipher: ContentCipher::Aes128Cbc,
            iv: vec![0; 16],
            content: vec![0x42; 32],
        };
        assert_eq!(e.open(&[0; 5]), Err(EnvelopeError::Decrypt));
    }
}
