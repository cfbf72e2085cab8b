//! Watching readers and cards: one thread blocked in SCardGetStatusChange.
//!
//! The thread waits with an infinite timeout on every reader plus the PnP pseudo-reader, so a
//! card or a reader coming or going wakes it; it then compares what it sees with what it saw
//! before and reports the difference. Nothing polls for cards.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use pcsc::{Context, State};

use super::{establish, map_error, observe, track_readers, wait_for_change, ReaderState};
use crate::certificate::CardFamily;
use crate::error::{Error, Result};

/// How long the thread waits before trying to reach an absent smart-card service again.
///
/// pcsc-lite without systemd socket activation (and Windows after the last reader is
/// unplugged) offers nothing to block on until the service returns, so the thread retries
/// at this slow pace. This applies only while the service is absent (and between attempts when
/// the blocking call keeps failing); card and reader changes always arrive through a blocking
/// call.
const SERVICE_RETRY: Duration = Duration::from_secs(2);

/// How often [`Watcher::stop`] repeats SCardCancel; see there.
const CANCEL_RETRY: Duration = Duration::from_millis(50);

/// A change to a reader or its card, reported by a [`Watcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReaderEvent {
    /// A reader was plugged in (or became visible after the service came back).
    ReaderAdded {
        /// The reader's name.
        name: String,
    },
    /// A reader was unplugged (or the service went away). Reported after the removal of the
    /// card it held.
    ReaderRemoved {
        /// The reader's name.
        name: String,
    },
    /// A card was inserted. A card swapped for another between two wake-ups is reported as
    /// [`CardRemoved`](ReaderEvent::CardRemoved) then `CardInserted`.
    CardInserted {
        /// The reader's name.
        reader: String,
        /// The card's ATR (empty for a mute card).
        atr: Vec<u8>,
        /// What the ATR suggests.
        family: CardFamily,
    },
    /// A card was removed.
    CardRemoved {
        /// The reader's name.
        reader: String,
    },
    /// The smart-card service cannot be reached: what [`Error::PcscService`] reports, said
    /// once per outage, followed by the removal of every reader. The watcher keeps going and
    /// reports [`ServiceRestored`](ReaderEvent::ServiceRestored) when the service is back.
    ServiceUnavailable {
        /// Why, e.g. `SCardEstablishContext: The Smart card resource manager is not running.`
        reason: String,
    },
    /// The service is reachable again; the readers it has follow as
    /// [`ReaderAdded`](ReaderEvent::ReaderAdded) and [`CardInserted`](ReaderEvent::CardInserted).
    ServiceRestored,
}

/// Watches readers and cards on a thread of its own until stopped or dropped.
///
/// ```no_run
/// use card_agent_card::reader::{ReaderEvent, Watcher};
///
/// let watcher = Watcher::spawn(|event| match event {
///     ReaderEvent::CardInserted { reader, family, .. } => println!("{family:?} card in {reader}"),
///     other => println!("{other:?}"),
/// })?;
/// println!("readers at start: {:?}", watcher.initial());
/// // ...
/// watcher.stop();
/// # Ok::<(), card_agent_card::Error>(())
/// ```
pub struct Watcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread ends (it owns the only sender).
    exited: mpsc::Receiver<()>,
    initial: Vec<ReaderState>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("running", &self.thread.is_some())
            .field("initial", &self.initial)
            .finish()
    }
}

impl Watcher {
    /// Takes a first snapshot (see [`initial`](Watcher::initial)) and starts a thread that
    /// calls `on_event` for every change after it, in order.
    ///
    /// An absent smart-card service is not an error here: the snapshot is then empty and the
    /// first event is [`ReaderEvent::ServiceUnavailable`]. `on_event` runs on the watcher's
    /// thread and should return quickly; it may drop or stop the watcher.
    pub fn spawn(on_event: impl FnMut(ReaderEvent) + Send + 'static) -> Result<Watcher> {
        let (connection, seen) = match Connection::open() {
            Ok((connection, seen)) => (Some(connection), seen),
            Err(Error::PcscService(_)) => (None, Vec::new()),
            Err(e) => return Err(e),
        };
        let shared = Arc::new(Shared {
            stopping: Mutex::new(false),
            wake: Condvar::new(),
            context: Mutex::new(connection.as_ref().map(|c| c.context.clone())),
        });
        let initial = seen.iter().map(|(reader, _)| reader.clone()).collect();
        let (exited_tx, exited) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("card-agent-reader-watch".to_owned())
            .spawn(move || {
                let _exited = exited_tx;
                Run {
                    shared: thread_shared,
                    connection,
                    seen,
                    on_event,
                }
                .run();
            })
            .map_err(|e| Error::Internal(format!("cannot start the reader watcher: {e}")))?;
        Ok(Watcher {
            shared,
            thread: Some(thread),
            exited,
            initial,
        })
    }

    /// The readers as they were when the watcher started: the baseline the events change.
    /// Empty if the service was absent then.
    pub fn initial(&self) -> &[ReaderState] {
        &self.initial
    }

    /// Stops the thread and waits for it. No event is delivered after this returns (unless
    /// called from the event callback itself, which cannot wait for its own thread: the
    /// thread then ends as soon as the callback returns).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        *lock(&self.shared.stopping) = true;
        self.shared.wake.notify_all();
        if thread.thread().id() == thread::current().id() {
            return;
        }
        // SCardCancel only interrupts a call already blocking. If the thread is between its
        // stop check and the next SCardGetStatusChange, this cancel is lost, so repeat it
        // until the thread has gone.
        loop {
            if let Some(context) = lock(&self.shared.context).as_ref() {
                if let Err(e) = context.cancel() {
                    tracing::debug!("SCardCancel: {e}");
                }
            }
            match self.exited.recv_timeout(CANCEL_RETRY) {
                Err(RecvTimeoutError::Timeout) => continue,
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if thread.join().is_err() {
            tracing::error!("the reader watcher's thread panicked");
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the owner and the thread share.
struct Shared {
    /// Set once, by [`Watcher::stop`].
    stopping: Mutex<bool>,
    /// Wakes the thread from its wait for an absent service.
    wake: Condvar,
    /// The thread's current context, for SCardCancel; `None` while the service is absent.
    context: Mutex<Option<Context>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        *lock(&self.stopping)
    }

    /// Sleeps for `pause` unless stopped first; true if stopped.
    fn sleep_unless_stopped(&self, pause: Duration) -> bool {
        let guard = lock(&self.stopping);
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, pause, |stopping| !*stopping)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// A lock that survives a panicked holder: the data (a flag, a context) stays valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A reader seen by the watcher, with its card event counter.
type Seen = (ReaderState, u32);

/// A live PC/SC context and the reader states it waits on (PnP pseudo-reader first).
struct Connection {
    context: Context,
    states: Vec<pcsc::ReaderState>,
}

impl Connection {
    /// Connects to the service and takes the baseline.
    fn open() -> Result<(Connection, Vec<Seen>)> {
        let context = establish()?;
        let mut connection = Connection {
            context,
            states: vec![pcsc::ReaderState::new(
                pcsc::PNP_NOTIFICATION(),
                State::UNAWARE,
            )],
        };
        track_readers(&connection.context, &mut connection.states)
            .map_err(|e| map_error("SCardListReaders", e))?;
        wait_for_change(
            &connection.context,
            &mut connection.states,
            Some(Duration::ZERO),
        )
        .map_err(|e| map_error("SCardGetStatusChange", e))?;
        let seen = observe(&connection.states);
        Ok((connection, seen))
    }

    /// Blocks until a reader or card changes from what was seen last, then returns the readers.
    fn next(&mut self) -> std::result::Result<Vec<Seen>, pcsc::Error> {
        track_readers(&self.context, &mut self.states)?;
        wait_for_change(&self.context, &mut self.states, None)?;
        Ok(observe(&self.states))
    }
}

/// The watcher thread's state.
struct Run<F> {
    shared: Arc<Shared>,
    /// `None` while the service is absent.
    connection: Option<Connection>,
    seen: Vec<Seen>,
    on_event: F,
}

impl<F: FnMut(ReaderEvent)> Run<F> {
    fn run(mut self) {
        let mut outage_reported = false;
        // Whether the blocking call failed with no success since (see below).
        let mut failed_before = false;
        while !self.shared.stopping() {
            let Some(connection) = self.connection.as_mut() else {
                match Connection::open() {
                    Ok((connection, now)) => {
                        *lock(&self.shared.context) = Some(connection.context.clone());
                        self.connection = Some(connection);
                        if std::mem::take(&mut outage_reported) {
                            tracing::info!("the smart card service is back");
                            self.emit(vec![ReaderEvent::ServiceRestored]);
                        }
                        self.update(now);
                    }
                    Err(e) => {
                        if !outage_reported {
                            outage_reported = true;
                            let reason = match e {
                                Error::PcscService(reason) => reason,
                                other => other.to_string(),
                            };
                            tracing::warn!("smart card service unavailable: {reason}");
                            self.emit(vec![ReaderEvent::ServiceUnavailable { reason }]);
                            self.update(Vec::new());
                        }
                        self.shared.sleep_unless_stopped(SERVICE_RETRY);
                    }
                }
                continue;
            };
            match connection.next() {
                Ok(now) => {
                    failed_before = false;
                    self.update(now);
                }
                // stop() woke us: the loop condition ends the thread.
                Err(pcsc::Error::Cancelled) => {}
                Err(e) => {
                    // Most likely the service went away, and a dying pcsc-lite answers with
                    // more than the service codes (a security violation has been seen). Start
                    // afresh at once: if the service is gone that fails and reports the outage.
                    // If the call fails again right after, pause so this cannot become a busy
                    // loop.
                    *lock(&self.shared.context) = None;
                    self.connection = None;
                    tracing::debug!("SCardGetStatusChange failed: {e}; reconnecting");
                    if std::mem::replace(&mut failed_before, true) {
                        tracing::warn!("SCardGetStatusChange keeps failing: {e}");
                        self.shared.sleep_unless_stopped(SERVICE_RETRY);
                    }
                }
            }
        }
    }

    /// Reports what changed from the last view to `now` and keeps `now`.
    fn update(&mut self, now: Vec<Seen>) {
        let events = diff(&self.seen, &now);
        self.seen = now;
        self.emit(events);
    }

    fn emit(&mut self, events: Vec<ReaderEvent>) {
        for event in events {
            if self.shared.stopping() {
                return;
            }
            tracing::debug!(?event, "reader event");
            (self.on_event)(event);
        }
    }
}

/// The events that turn `before` into `after`: removals first, then additions, in reader order.
fn diff(before: &[Seen], after: &[Seen]) -> Vec<ReaderEvent> {
    let mut events = Vec::new();
    for (old, _) in before {
        if !after.iter().any(|(new, _)| new.name == old.name) {
            if old.card_present {
                events.push(ReaderEvent::CardRemoved {
                    reader: old.name.clone(),
                });
            }
            events.push(ReaderEvent::ReaderRemoved {
                name: old.name.clone(),
            });
        }
    }
    for (new, new_count) in after {
        let inserted = || ReaderEvent::CardInserted {
            reader: new.name.clone(),
            atr: new.atr.clone().unwrap_or_default(),
            family: new.family.unwrap_or(CardFamily::Unknown),
        };
        match before.iter().find(|(old, _)| old.name == new.name) {
            None => {
                events.push(ReaderEvent::ReaderAdded {
                    name: new.name.clone(),
                });
                if new.card_present {
                    events.push(inserted());
                }
            }
            Some((old, old_count)) => {
                // Another card (or the same one, re-inserted) since the last look: the ATR or
                // the reader's insertion/removal counter moved while a card was present both times.
                let swapped = old.card_present
                    && new.card_present
                    && (old.atr != new.atr || old_count != new_count);
                if old.card_present && (!new.card_present || swapped) {
                    events.push(ReaderEvent::CardRemoved {
                        reader: new.name.clone(),
                    });
                }
                if new.card_present && (!old.card_present || swapped) {
                    events.push(inserted());
                }
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::super::MOICA_GEN1_ATR;
    use super::*;

    fn empty(name: &str, count: u32) -> Seen {
        (ReaderState::new(name.to_owned(), false, &[]), count)
    }

    fn card(name: &str, atr: &[u8], count: u32) -> Seen {
        (ReaderState::new(name.to_owned(), true, atr), count)
    }

    fn inserted(reader: &str, atr: &[u8], family: CardFamily) -> ReaderEvent {
        ReaderEvent::CardInserted {
            reader: reader.to_owned(),
            atr: atr.to_vec(),
            family,
        }
    }

    fn removed(reader: &str) -> ReaderEvent {
        ReaderEvent::CardRemoved {
            reader: reader.to_owned(),
        }
    }

    #[test]
    fn nothing_changed_nothing_reported() {
        let view = [empty("A", 0), card("B", &MOICA_GEN1_ATR, 1)];
        assert_eq!(diff(&view, &view), vec![]);
    }

    #[test]
    fn cards_coming_and_going() {
        let before = [empty("A", 0), card("B", &MOICA_GEN1_ATR, 1)];
        let after = [card("A", &[0x3B, 0x00], 1), empty("B", 2)];
        assert_eq!(
            diff(&before, &after),
            vec![
                inserted("A", &[0x3B, 0x00], CardFamily::Unknown),
                removed("B")
            ]
        );
    }

    #[test]
    fn readers_coming_and_going_with_their_cards() {
        let before = [card("A", &MOICA_GEN1_ATR, 1), empty("B", 0)];
        let after = [empty("B", 0), card("C", &MOICA_GEN1_ATR, 1)];
        assert_eq!(
            diff(&before, &after),
            vec![
                removed("A"),
                ReaderEvent::ReaderRemoved { name: "A".into() },
                ReaderEvent::ReaderAdded { name: "C".into() },
                inserted("C", &MOICA_GEN1_ATR, CardFamily::Moica),
            ]
        );
        assert_eq!(
            diff(&after, &[]).len(),
            3,
            "service loss removes every card and reader"
        );
    }

    #[test]
    fn a_swapped_card_is_removed_then_inserted() {
        let before = [card("A", &MOICA_GEN1_ATR, 1)];
        let other_card = [card("A", &[0x3B, 0x00], 3)];
        let same_card_again = [card("A", &MOICA_GEN1_ATR, 3)];
        let expected_other = vec![
            removed("A"),
            inserted("A", &[0x3B, 0x00], CardFamily::Unknown),
        ];
        assert_eq!(diff(&before, &other_card), expected_other);
        let expected_same = vec![
            removed("A"),
            inserted("A", &MOICA_GEN1_ATR, CardFamily::Moica),
        ];
        assert_eq!(diff(&before, &same_card_again), expected_same);
    }

    #[test]
    fn a_mute_card_is_inserted_with_an_empty_atr() {
        assert_eq!(
            diff(&[empty("A", 0)], &[card("A", &[], 1)]),
            vec![inserted("A", &[], CardFamily::Unknown)]
        );
    }
}
