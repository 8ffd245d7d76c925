//! The transaction protocol: dedupe by fingerprint, in-flight coalescing, the FIFO turn, the
//! handler calls (ephemeral data first, then the events), retry progress, the store's record.

use std::{collections::BTreeMap, sync::Arc};

use appservice_types::{
    MatrixError,
    transaction::{EventEnvelope, Transaction},
};
use bytes::Bytes;
use futures_util::future::join_all;

use super::{
    Dispatcher, Inner,
    report::{Disposition, Report},
};
use crate::{
    Event, Handler, HandlerError, RoomConcurrency, TransactionContext, TransactionStore,
    UnitOfWork,
    order::{Outcome, Slot},
    store::Fingerprint,
};

/// The answer to a transaction, shared with duplicates that arrived while it was handled.
pub(super) type Answer = Result<(), MatrixError>;

/// What a failed attempt of a transaction already did, so its retry does not do it again.
#[derive(Debug)]
pub(super) struct Progress {
    fingerprint: Fingerprint,
    ephemeral_done: bool,
    events_done: EventsDone,
}

/// Which events of a transaction a failed attempt already handled, by index. Empty (no
/// allocation) until an attempt fails after handling some: the happy path never touches it.
#[derive(Debug, Default)]
struct EventsDone(Vec<bool>);

impl EventsDone {
    fn contains(&self, i: usize) -> bool {
        self.0.get(i).copied().unwrap_or(false)
    }

    /// Marks the events in `handled` as done (`len`: the transaction's event count).
    fn extend(&mut self, len: usize, handled: impl IntoIterator<Item = usize>) {
        let mut handled = handled.into_iter().peekable();
        if handled.peek().is_none() {
            return;
        }
        if self.0.len() < len {
            self.0.resize(len, false);
        }
        for i in handled {
            if let Some(done) = self.0.get_mut(i) {
                *done = true;
            }
        }
    }
}

impl<H: Handler, S: TransactionStore> Dispatcher<H, S> {
    pub(super) async fn transaction(
        &self,
        txn_id: String,
        body: Bytes,
        legacy: bool,
        report: &mut Report,
    ) -> Answer {
        let transaction = Transaction::from_slice_with_limit(&body, self.inner.config.max_events)
            .map_err(|e| e.to_matrix_error())?;
        report.events = transaction.events.len();
        let envelopes: Vec<Option<EventEnvelope<'_>>> =
            transaction.events.iter().map(|raw| raw.envelope().ok()).collect();
        let fingerprint = fingerprint(&transaction, &envelopes);
        // A store with units checks inside the unit, in the transaction's turn.
        if !self.inner.store.offers_units() && self.completed(&txn_id, fingerprint).await? {
            report.outcome = Disposition::Duplicate;
            return Ok(());
        }
        loop {
            let (slot, leader) = {
                let mut inflight = self.inner.inflight.lock();
                match inflight.get(&txn_id) {
                    Some(slot) => (Arc::clone(slot), false),
                    None => {
                        let slot = Slot::new();
                        inflight.insert(txn_id.clone(), Arc::clone(&slot));
                        (slot, true)
                    }
                }
            };
            if !leader {
                // A duplicate delivery while the first is being handled: share its outcome.
                tracing::debug!(
                    txn_id,
                    "duplicate delivery of an in-flight transaction: waiting for it"
                );
                match slot.wait().await {
                    Outcome::Done(answer) => {
                        report.outcome = Disposition::Duplicate;
                        return answer;
                    }
                    Outcome::Abandoned => continue,
                }
            }
            let guard = LeaderGuard { inner: &self.inner, txn_id: &txn_id, slot };
            let ctx = TransactionContext {
                txn_id: &txn_id,
                transaction: &transaction,
                body: &body,
                legacy,
                unit: None,
            };
            let answer = self.lead(&ctx, &envelopes, fingerprint, report).await;
            guard.finish(answer.clone());
            return answer;
        }
    }

    /// Whether `txn_id` was completed with these events (a retry to acknowledge again).
    async fn completed(
        &self,
        txn_id: &str,
        fingerprint: Fingerprints<'_>,
    ) -> Result<bool, MatrixError> {
        match self.inner.store.lookup(txn_id).await {
            Ok(Some(fp)) if fingerprint.matches(fp) => {
                tracing::debug!(txn_id, "transaction already completed: acknowledging again");
                Ok(true)
            }
            Ok(Some(_)) => {
                tracing::warn!(
                    txn_id,
                    "a completed transaction ID came again with other events (homeserver reset?): handling it as new"
                );
                Ok(false)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                tracing::error!(txn_id, error = %e, "transaction store lookup failed");
                Err(MatrixError::unknown("The transaction store failed; retry later"))
            }
        }
    }

    /// Runs the transaction in its turn: in the store's unit of work if it offers one, else with
    /// the within-process retry progress.
    async fn lead(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        fingerprint: Fingerprints<'_>,
        report: &mut Report,
    ) -> Answer {
        let mut turn = self.inner.turns.ticket();
        turn.wait().await;
        match self.inner.store.begin(ctx.txn_id, fingerprint.current).await {
            Ok(Some(unit)) => self.lead_in_unit(ctx, envelopes, fingerprint, unit, report).await,
            Ok(None) => self.lead_with_progress(ctx, envelopes, fingerprint).await,
            Err(e) => {
                tracing::error!(txn_id = ctx.txn_id, error = %e, "opening a unit of work failed");
                Err(MatrixError::unknown("The transaction store failed; retry later"))
            }
        }
    }

    /// Ephemeral data, then events, all in `unit`; then the record, committed with the unit.
    /// A failure drops the unit (its writes roll back), so a retry runs everything again.
    async fn lead_in_unit(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        fingerprint: Fingerprints<'_>,
        unit: Box<dyn UnitOfWork>,
        report: &mut Report,
    ) -> Answer {
        // The only dedupe check for a store with units (`offers_units`): report it as one.
        if unit.recorded().is_some_and(|fp| fingerprint.matches(fp)) {
            tracing::debug!(txn_id = ctx.txn_id, "transaction already completed: acknowledging");
            report.outcome = Disposition::Duplicate;
            return Ok(());
        }
        let in_unit = TransactionContext { unit: Some(&*unit), ..*ctx };
        if has_ephemeral(ctx.transaction) {
            self.inner
                .handler
                .ephemeral_and_device_data(&in_unit)
                .await
                .map_err(|e| handler_failure(ctx.txn_id, "ephemeral", e))?;
        }
        if let Some(e) = self.run_events(&in_unit, envelopes, &mut EventsDone::default()).await {
            return Err(e);
        }
        unit.commit(fingerprint.current).await.map_err(|e| {
            tracing::error!(txn_id = ctx.txn_id, error = %e, "committing a unit of work failed");
            MatrixError::unknown("The transaction store failed; retry later")
        })
    }

    /// Ephemeral data, then events, skipping what a failed attempt already handled; then the
    /// store's record.
    async fn lead_with_progress(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        fingerprint: Fingerprints<'_>,
    ) -> Answer {
        // Completed while this delivery waited for its turn (by an earlier, already finished leader).
        if self.completed(ctx.txn_id, fingerprint).await? {
            return Ok(());
        }
        let (mut ephemeral_done, mut events_done) =
            self.take_progress(ctx.txn_id, fingerprint.current);
        if !ephemeral_done && has_ephemeral(ctx.transaction) {
            if let Err(e) = self.inner.handler.ephemeral_and_device_data(ctx).await {
                self.save_progress(ctx.txn_id, fingerprint.current, false, events_done);
                return Err(handler_failure(ctx.txn_id, "ephemeral", e));
            }
            ephemeral_done = true;
        }
        let failure = self.run_events(ctx, envelopes, &mut events_done).await;
        if let Some(e) = failure {
            self.save_progress(ctx.txn_id, fingerprint.current, ephemeral_done, events_done);
            return Err(e);
        }
        if let Err(e) = self.inner.store.record(ctx.txn_id, fingerprint.current).await {
            tracing::error!(txn_id = ctx.txn_id, error = %e, "recording a completed transaction failed");
            // Everything was handled: the retry only has to record it.
            self.save_progress(ctx.txn_id, fingerprint.current, true, events_done);
            return Err(MatrixError::unknown("The transaction store failed; retry later"));
        }
        Ok(())
    }

    /// Hands the events not yet handled to the handler; returns the first failure.
    async fn run_events(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        done: &mut EventsDone,
    ) -> Option<MatrixError> {
        let len = ctx.transaction.events.len();
        match self.inner.config.room_concurrency {
            // The default: one sequence, awaited directly (no collections, no `join_all`).
            RoomConcurrency::Sequential => {
                let pending = (0..len).filter(|&i| !done.contains(i));
                let result = self.run_sequence(ctx, envelopes, pending).await;
                result.err().map(|(failed, e)| {
                    // Every event before the failed one is done now (marking one twice is harmless).
                    done.extend(len, 0..failed);
                    e
                })
            }
            RoomConcurrency::PerRoom => {
                let mut by_room: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
                for i in (0..len).filter(|&i| !done.contains(i)) {
                    let room = envelopes[i].as_ref().map(|e| e.room_id.as_ref());
                    by_room.entry(room).or_default().push(i);
                }
                let rooms: Vec<Vec<usize>> = by_room.into_values().collect();
                let results = join_all(
                    rooms
                        .iter()
                        .map(|room| self.run_sequence(ctx, envelopes, room.iter().copied())),
                )
                .await;
                let mut failure = None;
                for (room, result) in rooms.iter().zip(results) {
                    let handled = room.iter().copied();
                    match result {
                        Ok(()) => done.extend(len, handled),
                        Err((failed, e)) => {
                            done.extend(len, handled.take_while(|&i| i != failed));
                            failure = failure.or(Some(e));
                        }
                    }
                }
                failure
            }
        }
    }

    /// Hands the events of `sequence` to the handler, in order, until the first failure; then
    /// returns the failed event's index and the error.
    async fn run_sequence(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        sequence: impl Iterator<Item = usize>,
    ) -> Result<(), (usize, MatrixError)> {
        for i in sequence {
            let event = Event {
                index: i,
                raw: &ctx.transaction.events[i],
                envelope: envelopes[i].as_ref(),
            };
            if let Err(e) = self.inner.handler.event(ctx, event).await {
                return Err((i, handler_failure(ctx.txn_id, "event", e)));
            }
        }
        Ok(())
    }

    fn take_progress(&self, txn_id: &str, fingerprint: Fingerprint) -> (bool, EventsDone) {
        match self.inner.progress.lock().remove(txn_id) {
            Some(p) if p.fingerprint == fingerprint => (p.ephemeral_done, p.events_done),
            _ => (false, EventsDone::default()),
        }
    }

    fn save_progress(
        &self,
        txn_id: &str,
        fingerprint: Fingerprint,
        ephemeral_done: bool,
        events_done: EventsDone,
    ) {
        self.inner
            .progress
            .lock()
            .insert(txn_id, Progress { fingerprint, ephemeral_done, events_done });
    }
}

/// Publishes the leader's outcome to waiting duplicates, also when the leader is dropped.
struct LeaderGuard<'a, H, S> {
    inner: &'a Inner<H, S>,
    txn_id: &'a str,
    slot: Arc<Slot<Answer>>,
}

impl<H, S> LeaderGuard<'_, H, S> {
    fn finish(self, answer: Answer) {
        self.slot.finish(Outcome::Done(answer));
        // Drop removes the entry.
    }
}

impl<H, S> Drop for LeaderGuard<'_, H, S> {
    fn drop(&mut self) {
        self.inner.inflight.lock().remove(self.txn_id);
        // No-op when `finish` already published the outcome.
        self.slot.finish(Outcome::Abandoned);
    }
}

/// A digest of the event IDs, in order; an event without a readable ID counts by position only
/// (its JSON may differ between attempts, e.g. `unsigned.age`).
fn fingerprint<'a>(
    transaction: &'a Transaction,
    envelopes: &'a [Option<EventEnvelope<'a>>],
) -> Fingerprints<'a> {
    debug_assert_eq!(envelopes.len(), transaction.events.len());
    Fingerprints { current: Fingerprint::of(event_ids(envelopes)), envelopes }
}

/// The parts a fingerprint digests: each event's ID, or `\0` for an event without one.
fn event_ids<'a>(envelopes: &'a [Option<EventEnvelope<'a>>]) -> impl Iterator<Item = &'a [u8]> {
    const NO_ID: &[u8] = b"\0";
    envelopes.iter().map(|envelope| match envelope {
        Some(e) => e.event_id.as_bytes(),
        None => NO_ID,
    })
}

/// A transaction's fingerprint, and what it needs to recognise a record of an older version.
#[derive(Clone, Copy)]
struct Fingerprints<'a> {
    /// The fingerprint this version records ([`Fingerprint::of`]).
    current: Fingerprint,
    envelopes: &'a [Option<EventEnvelope<'a>>],
}

impl Fingerprints<'_> {
    /// Whether a store's `recorded` fingerprint is this transaction's: the current one, or the
    /// FNV-1a one that version 0.1.0 recorded (computed only when the current one differs,
    /// so only for a retry across the upgrade or a reused ID).
    fn matches(&self, recorded: Fingerprint) -> bool {
        recorded == self.current || recorded == Fingerprint::of_fnv1a(event_ids(self.envelopes))
    }
}

fn has_ephemeral(t: &Transaction) -> bool {
    t.ephemeral.as_ref().is_some_and(|s| !s.value.is_empty())
        || t.to_device.as_ref().is_some_and(|s| !s.value.is_empty())
        || t.device_lists.is_some()
        || t.device_one_time_keys_count.is_some()
        || t.device_unused_fallback_key_types.is_some()
}

pub(super) fn handler_failure(what: &str, method: &str, e: HandlerError) -> MatrixError {
    match e {
        HandlerError::Matrix(m) => m,
        HandlerError::Failed(e) => {
            tracing::warn!(target: "appservice_dispatch", %what, method, error = %e, "handler failed");
            MatrixError::unknown("The request could not be handled; retry later")
        }
    }
}
