//! The dialog seam: what the service asks the user, through the pinentry program in the daemon
//! and through a scripted stand-in in the service's unit tests.

use card_agent_protocol::Language;

use crate::error::Result;
use crate::pin::Pin;
use crate::pinentry::{Client, PinDialog, PinRequest};

/// The agent's own dialogs: the PIN prompt and the site confirmation. Each is opened for a
/// client and closes when that client goes away.
pub trait Dialogs: Send + Sync {
    /// Asks for the PIN (see [`PinDialog::ask_pin`]).
    fn ask_pin(&self, client: &Client, request: &PinRequest<'_>) -> Result<Pin>;
    /// Asks whether `origin` may use the card (see [`PinDialog::confirm_site`]).
    fn confirm_site(&self, client: &Client, origin: &str, lang: Language) -> Result<bool>;
    /// Marks `client` gone and closes its dialogs; none opens for it any more.
    fn close_client(&self, client: &Client);
    /// Closes every dialog and opens no more (the daemon is stopping).
    fn close_all(&self);
    /// Shows "enter the PIN on the reader" for a PIN-pad reader and returns at once; the
    /// notice closes when the returned value is dropped (see [`PinDialog::show_reader_notice`]).
    /// Dialogs that cannot show one say so, and the operation goes on without it.
    fn show_reader_notice(
        &self,
        _client: &Client,
        _request: &PinRequest<'_>,
    ) -> Result<Box<dyn Send>> {
        Err(crate::error::Error::PinDialog(
            "this dialog shows no PIN-pad notice".to_owned(),
        ))
    }
}

impl Dialogs for PinDialog {
    fn ask_pin(&self, client: &Client, request: &PinRequest<'_>) -> Result<Pin> {
        self.for_client(client).ask_pin(request)
    }

    fn confirm_site(&self, client: &Client, origin: &str, lang: Language) -> Result<bool> {
        self.for_client(client).confirm_site(origin, lang)
    }

    fn close_client(&self, client: &Client) {
        PinDialog::close_client(self, client);
    }

    fn close_all(&self) {
        PinDialog::close_all(self);
    }

    fn show_reader_notice(
        &self,
        client: &Client,
        request: &PinRequest<'_>,
    ) -> Result<Box<dyn Send>> {
        let notice = self.for_client(client).show_reader_notice(request)?;
        Ok(Box::new(notice))
    }
}
