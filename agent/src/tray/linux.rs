//! The tray on Linux: a StatusNotifierItem (with its dbusmenu) through `ksni`, shown by KDE,
//! GNOME with the AppIndicator extension, Xfce, Cinnamon, MATE, LXQt and most panels.
//!
//! The item only renders the [`Snapshot`] the session publishes and forwards menu choices;
//! every decision is in [`super::state`] and [`super::session`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use card_agent_protocol::Language;
use ksni::menu::{StandardItem, SubMenu};
use ksni::{MenuItem, TrayMethods as _};
use tokio::sync::{mpsc, watch};

use super::actions;
use super::icons::{self, Pixmap};
use super::session::{self, Snapshot, UiRequest};
use super::state::{tray_state, TrayIcon};
use super::strings::{self, Text};
use crate::error::{Error, Result};

/// How long to wait for the first status before showing the icon anyway (autostarting the
/// daemon takes up to ten seconds).
const FIRST_STATUS_WAIT: Duration = Duration::from_secs(15);

/// How often the tray looks at who holds the legacy port.
const PORT_CHECK_EVERY: Duration = Duration::from_secs(60);

/// The warning to show when another user's program holds the legacy port (`http_listen`).
fn legacy_port_note(lang: Language) -> Option<String> {
    use crate::legacy_api::port_owner;
    let config = crate::config::Config::load(None).ok()?;
    let address = config.http_listen.trim().to_owned();
    let port = address.parse::<std::net::SocketAddr>().ok()?.port();
    let holder = port_owner::foreign_holder(port)?;
    Some(port_owner::foreign_note(&address, &holder, lang))
}

/// Runs the tray until the user chooses Quit or the process is told to stop.
pub fn run(lang: Language) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(run_async(lang))
}

async fn run_async(lang: Language) -> Result<()> {
    let (ui, requests) = mpsc::unbounded_channel();
    let (quit, mut quitting) = mpsc::unbounded_channel();
    let connecting = tray_state(Err(""), crate::inventory::now_unix(), lang);
    let (out, mut snapshots) = watch::channel(Snapshot {
        state: connecting,
        sites: None,
    });
    tokio::spawn(session::run(
        lang,
        crate::inventory::now_unix,
        crate::ipc::connect_or_start,
        requests,
        out,
    ));
    // Show the first real state rather than a red cross while the daemon starts.
    let _ = tokio::time::timeout(FIRST_STATUS_WAIT, snapshots.changed()).await;
    let snapshot = snapshots.borrow_and_update().clone();
    let tray = AgentTray {
        lang,
        port_note: legacy_port_note(lang),
        snapshot,
        icons: Arc::new(IconSet::draw()),
        ui,
        quit,
    };
    // A panel may start after the tray at login, or restart: wait for it instead of failing.
    let handle = tray
        .assume_sni_available(true)
        .spawn()
        .await
        .map_err(|e| Error::Internal(format!("cannot show the tray icon: {e}")))?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Internal(format!("cannot watch SIGTERM: {e}")))?;
    let mut port_check = tokio::time::interval(PORT_CHECK_EVERY);
    loop {
        tokio::select! {
            _ = port_check.tick() => {
                let note = legacy_port_note(lang);
                if handle.update(|tray| tray.port_note = note).await.is_none() {
                    break;
                }
            }
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                if handle.update(|tray| tray.snapshot = snapshot).await.is_none() {
                    break;
                }
            }
            _ = quitting.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    // Dropping the tray (and its request sender) ends the session; the daemon keeps running.
    handle.shutdown().await;
    Ok(())
}

/// The icons of every state, drawn once.
struct IconSet(HashMap<TrayIcon, Vec<ksni::Icon>>);

impl IconSet {
    fn draw() -> Self {
        let to_ksni = |p: Pixmap| ksni::Icon {
            width: p.size as i32,
            height: p.size as i32,
            data: p.argb,
        };
        IconSet(
            TrayIcon::ALL
                .into_iter()
                .map(|icon| {
                    let pixmaps = icons::draw_all_sizes(icon).into_iter().map(to_ksni);
                    (icon, pixmaps.collect())
                })
                .collect(),
        )
    }

    fn get(&self, icon: TrayIcon) -> Vec<ksni::Icon> {
        self.0.get(&icon).cloned().unwrap_or_default()
    }
}

/// The StatusNotifierItem.
struct AgentTray {
    lang: Language,
    /// Set when another user's program holds the legacy port (see [`legacy_port_note`]).
    port_note: Option<String>,
    snapshot: Snapshot,
    icons: Arc<IconSet>,
    ui: mpsc::UnboundedSender<UiRequest>,
    quit: mpsc::UnboundedSender<()>,
}

impl ksni::Tray for AgentTray {
    // People click the icon to see what it means: a left click opens the menu too.
    const MENU_ON_ACTIVATE: bool = true;

    fn id(&self) -> String {
        "card-agent".into()
    }

    fn title(&self) -> String {
        Text::AppName.get(self.lang).into()
    }

    fn category(&self) -> ksni::Category {
        ksni::Category::Hardware
    }

    fn status(&self) -> ksni::Status {
        if self.snapshot.state.icon.needs_attention() {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.icons.get(self.snapshot.state.icon)
    }

    fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.icons.get(self.snapshot.state.icon)
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.snapshot.state.headline.clone(),
            // The description may hold markup; names and sites are text.
            description: escape_markup(&match &self.port_note {
                Some(note) => format!("{}\n{note}", self.snapshot.state.tooltip),
                None => self.snapshot.state.tooltip.clone(),
            }),
            ..Default::default()
        }
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        let lang = self.lang;
        let state = &self.snapshot.state;
        let mut menu = vec![info(&state.headline)];
        for card in &state.cards {
            menu.push(info(&card.heading));
            if !card.detail.is_empty() {
                menu.push(info(&format!("    {}", card.detail)));
            }
        }
        if let Some(hint) = &state.hint {
            menu.push(info(hint));
        }
        if let Some(note) = &self.port_note {
            menu.push(info(note));
        }
        menu.push(MenuItem::Separator);
        menu.push(action(Text::EnvironmentCheck.get(lang), move |_| {
            report(actions::environment_check(lang))
        }));
        menu.push(action(Text::SelfTestPage.get(lang), |_| {
            report(actions::open(actions::SELF_TEST_URL))
        }));
        menu.push(self.trusted_sites_menu());
        menu.push(action(Text::OpenLogFolder.get(lang), |_| {
            report(actions::open_folder(&crate::daemon::log_dir()))
        }));
        menu.push(MenuItem::Separator);
        menu.push(action(Text::Quit.get(lang), |tray: &mut Self| {
            let _ = tray.quit.send(());
        }));
        menu
    }

    fn menu_about_to_show(&mut self) {
        // A site may have been approved since the list was fetched.
        let _ = self.ui.send(UiRequest::RefreshSites);
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        tracing::warn!(
            ?reason,
            "no system tray (StatusNotifier host) is running; the icon will appear when one \
             starts (on GNOME, install the AppIndicator extension)"
        );
        true
    }
}

impl AgentTray {
    fn trusted_sites_menu(&self) -> MenuItem<Self> {
        let lang = self.lang;
        let submenu: Vec<MenuItem<Self>> = match &self.snapshot.sites {
            None => vec![info(Text::TrustedSitesUnavailable.get(lang))],
            Some(list) if list.sites.is_empty() && list.configured.is_empty() => {
                vec![info(Text::NoTrustedSites.get(lang))]
            }
            Some(list) => {
                let mut items: Vec<MenuItem<Self>> = list
                    .sites
                    .iter()
                    .map(|site| {
                        let origin = site.origin.clone();
                        let date: String = site.approved_at.chars().take(10).collect();
                        SubMenu {
                            label: escape_label(&site.origin),
                            submenu: vec![
                                info(&strings::approved_on(&date, lang)),
                                action(Text::Remove.get(lang), move |tray: &mut Self| {
                                    let _ = tray.ui.send(UiRequest::RemoveSite(origin.clone()));
                                }),
                            ],
                            ..Default::default()
                        }
                        .into()
                    })
                    .collect();
                items.extend(
                    list.configured
                        .iter()
                        .map(|pattern| info(&strings::configured_pattern(pattern, lang))),
                );
                items
            }
        };
        SubMenu {
            label: escape_label(Text::TrustedSites.get(lang)),
            submenu,
            ..Default::default()
        }
        .into()
    }
}

/// An inactive line of text.
fn info(text: &str) -> MenuItem<AgentTray> {
    StandardItem {
        label: escape_label(text),
        enabled: false,
        ..Default::default()
    }
    .into()
}

fn action(label: &str, activate: impl Fn(&mut AgentTray) + Send + 'static) -> MenuItem<AgentTray> {
    StandardItem {
        label: escape_label(label),
        activate: Box::new(activate),
        ..Default::default()
    }
    .into()
}

fn report(result: Result<()>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "menu action failed");
    }
}

/// dbusmenu labels treat `_` as an access-key marker; `__` shows one underscore.
fn escape_label(text: &str) -> String {
    text.replace('_', "__")
}

/// The tooltip description allows a subset of HTML.
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_markup_are_escaped() {
        assert_eq!(escape_label("https://a_b.gov.tw"), "https://a__b.gov.tw");
        assert_eq!(escape_markup("A&B <i>"), "A&amp;B &lt;i&gt;");
    }
}
