//! Reading the objects on a token: certificate attributes (every length checked before cryptoki
//! allocates it), key pairs and the private key of a certificate.

use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::{map_error, Module};
use crate::error::{Error, Result};

/// The longest attribute values read from a certificate object: a card's certificate is
/// under 2 KiB, its CKA_ID a few bytes, its label a line. A module that reports more is
/// answering nonsense, and cryptoki would allocate whatever length it reports.
const ATTRIBUTE_LIMITS: [(AttributeType, usize); 3] = [
    (AttributeType::Value, 64 * 1024),
    (AttributeType::Id, 256),
    (AttributeType::Label, 1024),
];

impl Module {
    /// CKA_VALUE, CKA_ID and CKA_LABEL of a certificate object, each length checked before
    /// anything is allocated for it.
    pub(super) fn read_cert_object(
        &self,
        session: &Session,
        handle: ObjectHandle,
    ) -> Result<(Option<Vec<u8>>, Vec<u8>, String)> {
        let kinds: Vec<AttributeType> = ATTRIBUTE_LIMITS.iter().map(|(t, _)| *t).collect();
        let lengths = session
            .get_attribute_info(handle, &kinds)
            .map_err(|e| map_error("C_GetAttributeValue", e))?;
        for ((kind, limit), info) in ATTRIBUTE_LIMITS.iter().zip(&lengths) {
            if let AttributeInfo::Available(n) = info {
                if n > limit {
                    return Err(self.garbage(
                        "C_GetAttributeValue",
                        format!("a certificate's {kind} of {n} bytes (at most {limit} accepted)"),
                    ));
                }
            }
        }
        read_cert_attributes(session, handle)
    }
}

fn read_cert_attributes(
    session: &Session,
    handle: ObjectHandle,
) -> Result<(Option<Vec<u8>>, Vec<u8>, String)> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::Value,
                AttributeType::Id,
                AttributeType::Label,
            ],
        )
        .map_err(|e| map_error("C_GetAttributeValue", e))?;
    let (mut value, mut id, mut label) = (None, Vec::new(), String::new());
    for attr in attrs {
        match attr {
            Attribute::Value(v) => value = Some(v),
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = String::from_utf8_lossy(&v).trim().to_owned(),
            _ => {}
        }
    }
    Ok((value, id, label))
}

/// Before login most tokens hide private keys, so a public key with the same CKA_ID counts as
/// evidence of the pair.
pub(super) fn has_key_object(session: &Session, id: &[u8]) -> Result<bool> {
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let found = session
            .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
            .map_err(|e| map_error("C_FindObjects", e))?;
        if !found.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the key wants the PIN again for every use. A module that cannot say is taken at its
/// word for the ordinary login; a key that needed more fails with CKR_USER_NOT_LOGGED_IN.
pub(super) fn always_authenticate(session: &Session, key: ObjectHandle) -> bool {
    session
        .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
        .map(|attrs| {
            attrs
                .iter()
                .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true)))
        })
        .unwrap_or(false)
}

pub(super) fn find_private_key(session: &Session, key_id: &[u8]) -> Result<ObjectHandle> {
    session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(key_id.to_vec()),
        ])
        .map_err(|e| map_error("C_FindObjects", e))?
        .into_iter()
        .next()
        .ok_or(Error::KeyNotFound)
}
