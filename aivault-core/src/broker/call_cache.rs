//! The call cache of a vault handle (issue 13): the plan of each (capability, context) and the
//! unsealed secrets of each credential, so that a steady-state call costs one read of the
//! vault generation instead of a plan (many reads and row MAC checks), an envelope read and
//! a decryption.
//!
//! Validity: every entry was read at one vault generation (`vault_generation`, bumped by
//! SQLite triggers on every write to a row a plan or an unseal reads, by any process or
//! connection) under one master key id. A call uses the cache only when the generation it
//! reads now equals the one the entries were read at, the handle's keys are still those
//! (same key id, unlock session still present) and the counter never went backwards;
//! otherwise everything is dropped (values wiped) and reloaded through the MAC-checked path.
//! A missing counter row is never trusted: nothing is cached then.
//!
//! Reading the generation is a SQLite read transaction (a lock and an unlock on the WAL index,
//! a statement). Before it, the store's commit marker ([`Store::commit_marker`]: the WAL-index
//! header, which every commit rewrites) is read with one `pread`; when it equals the marker
//! read just before the generation read that last validated the entries, nothing was committed
//! since, so the generation is the same and is not read again. Under load the audit writer's
//! batch commits (one every few milliseconds) change the marker, so about one call per batch
//! reads the generation.
//!
//! [`Store::commit_marker`]: crate::store::Store::commit_marker
//!
//! Values never leave: entries are only lent to the broker pipeline, the cache has no
//! accessor outside the crate, and its `Debug` prints counts only. Secrets are
//! [`SecretValue`](crate::sensitive::SecretValue)s (wiped on drop), so an evicted, cleared or
//! replaced entry is wiped once the last call using it ends.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::pipeline::Unsealed;
use crate::model::CredentialSecret;
use crate::resolve::{Plan, PlanContext};
use crate::store::CommitMarker;
use crate::vault::Keys;

/// Most plans, and most unsealed credentials, kept at once; a full map is emptied (simple cap:
/// a handle rarely calls more than a few capabilities).
const LIMIT: usize = 64;

/// What a plan is cached under: the capability as the caller named it and the context.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct PlanKey {
    pub capability: String,
    pub context: PlanContext,
}

/// What unsealed secrets are cached under: the credential and its secrets by role (a binding
/// replaces a credential's secret, so two contexts may unseal different secrets).
#[derive(PartialEq, Eq, Hash)]
struct UnsealKey {
    credential: String,
    links: Vec<(String, String)>,
}

impl UnsealKey {
    fn of(plan: &Plan) -> UnsealKey {
        UnsealKey {
            credential: plan.credential.clone(),
            links: plan
                .secrets
                .iter()
                .map(|CredentialSecret { role, secret_ref }| (role.clone(), secret_ref.clone()))
                .collect(),
        }
    }
}

/// Where an entry was read: the vault generation and the master key id.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub generation: i64,
    pub key_id: String,
}

/// The cache (inside the handle's state mutex).
#[derive(Default)]
pub(crate) struct CallCache {
    /// Where the current entries were read (`None`: empty).
    stamp: Option<Stamp>,
    /// The commit marker read just before the generation read that last validated the
    /// entries (`None`: read the generation at the next call).
    marker: Option<CommitMarker>,
    /// The highest generation this handle has read: a counter seen below it was set back
    /// (the database was altered or replaced), and nothing is cached until it passes again.
    highest: i64,
    plans: HashMap<PlanKey, Arc<Plan>>,
    unsealed: HashMap<UnsealKey, Arc<Unsealed>>,
}

impl fmt::Debug for CallCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallCache")
            .field("generation", &self.stamp.as_ref().map(|s| s.generation))
            .field("plans", &self.plans.len())
            .field("unsealed", &self.unsealed.len())
            .finish()
    }
}

impl CallCache {
    /// Drops every entry (unsealed values are wiped when the last call using them ends).
    pub(crate) fn clear(&mut self) {
        self.stamp = None;
        self.marker = None;
        self.plans.clear();
        self.unsealed.clear();
    }

    /// Whether the entries are still valid at `generation` (read now) with the handle's
    /// `keys`; drops them when not.
    pub(crate) fn validate(&mut self, generation: Option<i64>, keys: Option<&Keys>) -> bool {
        let Some(generation) = generation else {
            self.clear();
            return false;
        };
        if generation < self.highest {
            self.clear();
            return false;
        }
        self.highest = generation;
        let valid = self.keys_current(keys)
            && self
                .stamp
                .as_ref()
                .is_some_and(|s| s.generation == generation);
        if !valid {
            self.clear();
        }
        valid
    }

    /// Whether there are entries read under `keys`' master key id, with the unlock session
    /// (passphrase vaults) still present.
    fn keys_current(&self, keys: Option<&Keys>) -> bool {
        keys.is_some_and(|k| {
            self.stamp.as_ref().is_some_and(|s| s.key_id == k.key_id)
                && k.session.as_ref().is_none_or(|p| p.exists())
        })
    }

    /// Whether the entries are valid without reading the generation: `marker` (read now)
    /// equals the one recorded at the last validation, so nothing was committed since, and the
    /// keys are still current. Nothing is dropped when not (the caller reads the generation
    /// and calls [`CallCache::validate`]).
    pub(crate) fn unchanged(&self, marker: Option<&CommitMarker>, keys: Option<&Keys>) -> bool {
        marker.is_some() && self.marker.as_ref() == marker && self.keys_current(keys)
    }

    /// Whether there is anything to validate (an empty cache needs no marker).
    pub(crate) fn is_empty(&self) -> bool {
        self.stamp.is_none()
    }

    /// Records `marker`, read before the generation read that just validated the entries.
    pub(crate) fn mark(&mut self, marker: Option<CommitMarker>) {
        if self.stamp.is_some() {
            self.marker = marker;
        }
    }

    /// Drops the entries unless they were read at `generation` (after a write of this handle).
    pub(crate) fn observe(&mut self, generation: Option<i64>) {
        if self.stamp.as_ref().map(|s| s.generation) != generation {
            self.clear();
        }
    }

    /// Makes `stamp` the current one if entries read there may be kept: never below the
    /// highest generation seen, and never a missing one.
    fn admit(&mut self, stamp: Option<Stamp>) -> bool {
        let Some(stamp) = stamp else {
            return false;
        };
        if stamp.generation < self.highest {
            return false;
        }
        self.highest = stamp.generation;
        if self.stamp.as_ref() != Some(&stamp) {
            self.clear();
            self.stamp = Some(stamp);
        }
        true
    }

    /// The cached plan of `key` and, when cached too, its unsealed secrets (call
    /// [`CallCache::validate`] first, in the same critical section).
    pub(crate) fn get(&self, key: &PlanKey) -> Option<(Arc<Plan>, Option<Arc<Unsealed>>)> {
        let plan = self.plans.get(key)?;
        let unsealed = self.unsealed.get(&UnsealKey::of(plan)).cloned();
        Some((Arc::clone(plan), unsealed))
    }

    /// Keeps a plan read at `stamp`.
    pub(crate) fn put_plan(&mut self, stamp: Option<Stamp>, key: PlanKey, plan: Arc<Plan>) {
        if !self.admit(stamp) {
            return;
        }
        if self.plans.len() >= LIMIT {
            self.plans.clear();
        }
        self.plans.insert(key, plan);
    }

    /// Keeps the unsealed secrets of `plan`'s credential, read at `stamp`.
    pub(crate) fn put_unsealed(&mut self, stamp: Option<Stamp>, plan: &Plan, value: Arc<Unsealed>) {
        if !self.admit(stamp) {
            return;
        }
        if self.unsealed.len() >= LIMIT {
            self.unsealed.clear();
        }
        self.unsealed.insert(UnsealKey::of(plan), value);
    }
}
