//! How often a failed token authentication is written to the audit log. Anyone who can reach
//! the socket, the gateway or the proxy (the proxy and the gateway listen on loopback TCP,
//! open to every local user) can send requests with no token or a made-up one; writing an
//! event for each let such a caller grow the log and the disk without bound. Each reason (no
//! token, unknown token, a named token revoked or expired) is recorded at most [`BURST`] times
//! per second per handle, and the attempts held back are counted in the next event of that
//! reason. The set of reasons is bounded: two fixed ones and one per stored token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The length of one window.
const INTERVAL: Duration = Duration::from_secs(1);
/// Refusals of one reason recorded per window (honest mistakes stay audited one by one).
const BURST: u32 = 10;

/// One reason's window: when it began, how many were recorded in it, and how many were held
/// back since the last recorded one.
#[derive(Debug)]
struct Window {
    began: Instant,
    recorded: u32,
    held: u64,
}

/// Per reason, its current window.
#[derive(Debug, Default)]
pub(crate) struct RefusalThrottle(Mutex<HashMap<String, Window>>);

impl RefusalThrottle {
    /// `Some(held back since the last recorded one)` when a refusal for `reason` is to be
    /// recorded now; `None` when it is held back (and counted).
    pub(crate) fn admit(&self, reason: &str) -> Option<u64> {
        self.admit_at(reason, Instant::now())
    }

    fn admit_at(&self, reason: &str, now: Instant) -> Option<u64> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let window = map.entry(reason.to_string()).or_insert(Window {
            began: now,
            recorded: 0,
            held: 0,
        });
        if now.duration_since(window.began) >= INTERVAL {
            window.began = now;
            window.recorded = 0;
        }
        if window.recorded >= BURST {
            window.held += 1;
            return None;
        }
        window.recorded += 1;
        Some(std::mem::take(&mut window.held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_reason_per_interval_with_the_rest_counted() {
        let t = RefusalThrottle::default();
        let start = Instant::now();
        for _ in 0..BURST {
            assert_eq!(t.admit_at("unknown token", start), Some(0));
        }
        for _ in 0..5 {
            assert_eq!(t.admit_at("unknown token", start), None);
        }
        // Another reason is not held back by the first.
        assert_eq!(t.admit_at("no token given", start), Some(0));
        assert_eq!(t.admit_at("unknown token", start + INTERVAL), Some(5));
        assert_eq!(t.admit_at("unknown token", start + INTERVAL), Some(0));
    }
}
