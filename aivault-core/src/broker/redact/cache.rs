//! Built redactors, shared across calls.

use std::fmt;
use std::sync::Arc;

use super::Redactor;

/// Redactors of recent calls, keyed by a SHA-256 of what they hide: building one (every form
/// of every value, sorted) costs more than a loopback call, and a credential's values rarely
/// change. Bounded; cleared when full.
#[derive(Default)]
pub(crate) struct RedactorCache {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<Redactor>>>,
}

impl fmt::Debug for RedactorCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedactorCache")
    }
}

/// Most distinct redactors kept (credentials × token versions in use at once).
const CACHE_LIMIT: usize = 256;

impl RedactorCache {
    /// The redactor for `secrets` and `literals`, built once.
    pub fn get(&self, secrets: &[&[u8]], literals: &[String]) -> Arc<Redactor> {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in secrets
            .iter()
            .copied()
            .chain(std::iter::once(&b"\0literals"[..]))
            .chain(literals.iter().map(|l| l.as_bytes()))
        {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        let key: [u8; 32] = hash.finalize().into();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = map.get(&key) {
            return Arc::clone(found);
        }
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        let built = Arc::new(Redactor::new(secrets, literals));
        map.insert(key, Arc::clone(&built));
        built
    }
}
