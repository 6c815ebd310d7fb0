//! Background writing of high-rate audit events (one per broker call).
//!
//! A `capability.invoke` event costs a write transaction with an fsync — more than a whole
//! loopback call. The broker queues it instead; one writer thread gathers events for a few
//! milliseconds and appends them in one transaction (group commit), in order, on the HMAC chain like any other event, over its
//! own database connection so that its fsyncs never hold up the handle's reads. The queue
//! is flushed before the vault's own audit reads, before locking or rotating, and when the
//! handle is dropped (a CLI process writes its event before it exits). A process killed between
//! a call and the next flush (milliseconds) loses that call's event.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::audit::{self, NewEvent};
use crate::config::Config;
use crate::store::Durability;
use crate::vault::{Keys, State, open_state, write_state_durable};

/// How long the writer gathers events after the first one before committing: one commit
/// (and one fsync) then serves every call of those milliseconds.
const LINGER: Duration = Duration::from_millis(5);
/// Most events in one transaction.
const MAX_BATCH: usize = 512;

/// The writer thread's inbox.
#[derive(Default)]
struct Inbox {
    events: Vec<(NewEvent, i64)>,
    /// Events taken by the writer and not yet committed.
    in_flight: usize,
    /// Callers waiting in `flush` (the writer commits at once for them).
    flushing: usize,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    inbox: Mutex<Inbox>,
    /// Signalled when events arrive or the queue closes.
    arrived: Condvar,
    /// Signalled after each batch is committed (or dropped after an error).
    written: Condvar,
}

impl Shared {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Queued audit events and their writer thread (started at the first event).
#[derive(Default)]
pub(crate) struct AuditQueue {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl AuditQueue {
    /// Queues `event` (stamped `ts_ms`) for the writer, starting it if needed.
    /// `keys` seeds the writer's key cache when it starts (it re-checks them against the
    /// vault before every batch, like any handle).
    pub(crate) fn push(
        &self,
        config: &Config,
        keys: impl FnOnce() -> Option<Keys>,
        event: NewEvent,
        ts_ms: i64,
    ) {
        {
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            if writer.is_none() {
                let shared = Arc::clone(&self.shared);
                let thread_config = config.clone();
                let seed = keys();
                let spawned = std::thread::Builder::new()
                    .name("aivault-audit".into())
                    .spawn(move || run(&shared, &thread_config, seed));
                match spawned {
                    Ok(handle) => *writer = Some(handle),
                    Err(e) => {
                        // No thread: write this event now rather than lose it.
                        drop(writer);
                        write_now(config, vec![(event, ts_ms)], &e);
                        return;
                    }
                }
            }
        }
        let mut inbox = self.shared.inbox();
        inbox.events.push((event, ts_ms));
        // The writer needs a wake-up only to start gathering, or when a batch is full.
        if inbox.events.len() == 1 || inbox.events.len() >= MAX_BATCH {
            self.shared.arrived.notify_one();
        }
    }

    /// Waits until everything queued so far is written.
    pub(crate) fn flush(&self) {
        let mut inbox = self.shared.inbox();
        inbox.flushing += 1;
        self.shared.arrived.notify_one();
        while !inbox.events.is_empty() || inbox.in_flight > 0 {
            if self
                .writer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_none_or(|h| h.is_finished())
            {
                break;
            }
            inbox = self
                .shared
                .written
                .wait(inbox)
                .unwrap_or_else(|p| p.into_inner());
        }
        inbox.flushing -= 1;
    }
}

impl Drop for AuditQueue {
    fn drop(&mut self) {
        self.shared.inbox().closing = true;
        self.shared.arrived.notify_one();
        if let Some(handle) = self
            .writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = handle.join();
        }
    }
}

/// The writer loop: take everything queued, append it in one transaction, repeat until the
/// queue closes and is empty.
fn run(shared: &Shared, config: &Config, keys: Option<Keys>) {
    let state = match open_state(config, keys) {
        Ok(state) => Some(state),
        Err(e) => {
            eprintln!(
                "aivault: the audit writer cannot open the vault: error[{}]: {}",
                e.kind().as_str(),
                e.message()
            );
            None
        }
    };
    loop {
        let batch = {
            let mut inbox = shared.inbox();
            while inbox.events.is_empty() && !inbox.closing {
                inbox = shared
                    .arrived
                    .wait(inbox)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if inbox.events.is_empty() {
                return;
            }
            let deadline = Instant::now() + LINGER;
            while !inbox.closing && inbox.flushing == 0 && inbox.events.len() < MAX_BATCH {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                inbox = shared
                    .arrived
                    .wait_timeout(inbox, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            let batch = std::mem::take(&mut inbox.events);
            inbox.in_flight = batch.len();
            batch
        };
        match &state {
            Some(state) => write_batch(state, config, batch, &"background writer"),
            None => write_now(config, batch, &"background writer"),
        }
        shared.inbox().in_flight = 0;
        shared.written.notify_all();
    }
}

/// Appends `batch` over a connection opened for it.
fn write_now(config: &Config, batch: Vec<(NewEvent, i64)>, context: &dyn std::fmt::Display) {
    match open_state(config, None) {
        Ok(state) => write_batch(&state, config, batch, context),
        Err(e) => eprintln!(
            "aivault: {} audit event(s) could not be written ({context}): error[{}]: {}",
            batch.len(),
            e.kind().as_str(),
            e.message()
        ),
    }
}

/// Appends `batch` in one transaction. A failure (vault locked meanwhile, disk full) is
/// reported on stderr, never silently: the events cannot be kept for ever.
pub(crate) fn write_batch(
    state: &Mutex<State>,
    config: &Config,
    batch: Vec<(NewEvent, i64)>,
    context: &dyn std::fmt::Display,
) {
    let count = batch.len();
    // Invoke events: durable against a process crash, not a power loss (README).
    let result = write_state_durable(state, config, Durability::Normal, |tx, keys| {
        audit::append_all(tx, &keys.audit, batch)
    });
    if let Err(e) = result {
        eprintln!(
            "aivault: {count} audit event(s) could not be written ({context}): error[{}]: {}",
            e.kind().as_str(),
            e.message()
        );
    }
}
