//! Listing the tokens of every module: one card read through two modules (HiCOS and
//! open-gpki-pkcs11 both read government cards) appears once, through the module listed
//! first (see `discovery::well_known` for the order; the config's `pkcs11_modules` sets it).
//! The copies left out are kept, so that doctor can name them.

use super::CardCore;
use crate::error::Result;
use crate::token::TokenInfo;

/// Every present token, and the same cards seen again through later modules.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The tokens, each card once.
    pub tokens: Vec<TokenInfo>,
    /// Cards a later module also reads, left out for the token above them.
    pub duplicates: Vec<Duplicate>,
}

/// A card read through a second module and left out.
#[derive(Debug, Clone)]
pub struct Duplicate {
    /// The copy left out (its `module` is the module it came through).
    pub left_out: TokenInfo,
    /// The module the card is read through.
    pub read_through: String,
}

impl CardCore {
    /// Every present token, each card once, and the copies left out. Fails with NO_MODULE
    /// when no module could be loaded at all.
    pub fn listing(&self) -> Result<Listing> {
        if self.providers.is_empty() {
            return Err(self.no_module());
        }
        let mut listing = Listing::default();
        let mut failed = None;
        for (index, provider) in self.providers.iter().enumerate() {
            // One module that cannot list its tokens must not hide the others' cards.
            match provider.tokens(index) {
                Ok(found) => found.into_iter().for_each(|token| listing.add(token)),
                Err(e) => {
                    tracing::warn!(module = %provider.name(), error = %e, "cannot list tokens");
                    failed.get_or_insert(e);
                }
            }
        }
        // No card anywhere, and a module failed: its failure says more than "no card".
        match failed {
            Some(e) if listing.tokens.is_empty() => Err(e),
            _ => Ok(listing),
        }
    }
}

impl Listing {
    fn add(&mut self, token: TokenInfo) {
        let first = (!token.demo && !token.serial.is_empty())
            .then(|| self.tokens.iter().find(|t| t.serial == token.serial))
            .flatten();
        match first {
            Some(first) => {
                tracing::debug!(serial = %token.serial, module = %token.module,
                    "card already read through an earlier module");
                let read_through = first.module.clone();
                self.duplicates.push(Duplicate {
                    left_out: token,
                    read_through,
                });
            }
            None => self.tokens.push(token),
        }
    }
}
