//! Redaction of a response body as it streams, with the response size cap.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use zeroize::Zeroize;

use super::{Redactor, Run};
use crate::error::{Error, ErrorKind};

/// The most bytes [`RedactingReader`] reads from upstream at once.
pub(super) const READ_CHUNK: usize = 32 * 1024;

/// The most bytes [`RedactingReader`] reads at first: its buffer grows (doubling, up to
/// [`READ_CHUNK`]) only after a read filled all the space offered, so a small response does
/// not pay for allocating and zeroing 32 KiB.
pub(super) const FIRST_CHUNK: usize = 4 * 1024;

/// [`RedactingReader`] stops redacting into its output buffer once it holds this many bytes.
pub(super) const OUT_LIMIT: usize = 32 * 1024;

/// A reader that redacts as it streams, holding back at most `2 * (window - 1)` bytes (a
/// possible partial match and a needle prefix before it) so a secret split across two reads
/// is still caught, and enforcing a response size cap on the bytes read from upstream.
///
/// Memory is flat: at most `READ_CHUNK + 2 * window` bytes of upstream data (zeroized as they
/// are consumed) and `OUT_LIMIT + REDACTED.len()` bytes of redacted output are buffered.
///
/// A body read whole ([`RedactingReader::cap_buffered`]) is read until its end, or until
/// `READ_CHUNK` bytes are pending, before it is scanned: a small response is scanned once,
/// without holding anything back.
pub(crate) struct RedactingReader<R> {
    inner: R,
    redactor: Arc<Redactor>,
    cap: Option<u64>,
    upstream: u64,
    /// Whether `cap` is the default cap of buffered output rather than the policy's.
    default_cap: bool,
    /// Whether the body is read whole (nobody waits for its first bytes).
    whole: bool,
    /// `FIRST_CHUNK + 2 * window` bytes, grown (old contents zeroized) up to
    /// `READ_CHUNK + 2 * window`; `pending[..filled]` are upstream bytes, of which
    /// `pending[..scanned]` are done.
    pub(super) pending: Vec<u8>,
    /// `pending[..dirty]` has held upstream bytes: what drop zeroizes (a 1 KiB response does
    /// not pay for wiping the whole buffer).
    dirty: usize,
    pub(super) filled: usize,
    scanned: usize,
    /// The redacted run in progress (`pending[..run.covered]` was emitted).
    run: Run,
    /// The last scan stopped at the end of a run to see more data.
    stalled: bool,
    /// Redacted bytes not yet returned; `out[..out_pos]` has been.
    pub(super) out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    /// Set once the cap was exceeded: every later read fails the same way.
    over_cap: Option<u64>,
}

impl<R> Drop for RedactingReader<R> {
    fn drop(&mut self) {
        self.pending[..self.dirty].zeroize();
    }
}

impl<R> fmt::Debug for RedactingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactingReader")
            .field("redactor", &self.redactor)
            .field("cap", &self.cap)
            .field("upstream_bytes", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl<R: Read> RedactingReader<R> {
    /// Wraps `inner`; `cap` is the most bytes upstream may send (`maxResponseBodyBytes`).
    pub fn new(inner: R, redactor: Arc<Redactor>, cap: Option<u64>) -> Self {
        // Kept across a fill: a partial match, and a needle prefix before it.
        let hold = 2 * redactor.window();
        RedactingReader {
            inner,
            redactor,
            cap,
            default_cap: false,
            whole: false,
            upstream: 0,
            pending: vec![0u8; FIRST_CHUNK + hold],
            dirty: 0,
            filled: 0,
            scanned: 0,
            run: Run::default(),
            stalled: false,
            out: Vec::new(),
            out_pos: 0,
            eof: false,
            over_cap: None,
        }
    }

    /// Bytes read from upstream so far.
    pub fn upstream_bytes(&self) -> u64 {
        self.upstream
    }

    /// The redactor applied.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Reads the body whole (see the type's docs) and caps it at `default` bytes when the
    /// policy set no cap of its own; returns the cap in force.
    pub fn cap_buffered(&mut self, default: u64) -> u64 {
        self.whole = true;
        match self.cap {
            Some(cap) => cap,
            None => {
                self.cap = Some(default);
                self.default_cap = true;
                default
            }
        }
    }

    /// Drops the redacted prefix of `pending`, then reads once from upstream.
    fn fill(&mut self) -> io::Result<()> {
        if self.scanned > 0 {
            // Stale bytes past `filled` are overwritten by later reads or zeroized on drop.
            self.pending.copy_within(self.scanned..self.filled, 0);
            self.filled -= self.scanned;
            self.run.covered = self.run.covered.saturating_sub(self.scanned);
            self.scanned = 0;
        }
        self.stalled = false;
        // A stream keeps at most `2 * (window - 1)` bytes across a fill, so a whole chunk
        // fits; a body read whole may have filled the buffer further.
        let offered = (self.pending.len() - self.filled).min(READ_CHUNK);
        let mut want = offered;
        if let Some(cap) = self.cap {
            // One byte past the cap is enough to know it is exceeded.
            let room = cap.saturating_sub(self.upstream).saturating_add(1);
            want = want.min(usize::try_from(room).unwrap_or(usize::MAX));
        }
        let start = self.filled;
        let n = self.inner.read(&mut self.pending[start..start + want])?;
        let n = n.min(want);
        self.filled += n;
        self.dirty = self.dirty.max(self.filled);
        if n == 0 {
            self.eof = true;
            return Ok(());
        }
        if n == offered {
            self.grow();
        }
        self.upstream += n as u64;
        if let Some(cap) = self.cap
            && self.upstream > cap
        {
            self.over_cap = Some(cap);
            self.pending[..self.dirty].zeroize();
            self.filled = 0;
            self.scanned = 0;
            self.run = Run::default();
            return Err(cap_error(cap, self.default_cap));
        }
        Ok(())
    }
}

impl<R> RedactingReader<R> {
    /// Doubles the read size, up to `READ_CHUNK`: the new buffer takes the pending bytes and
    /// the old one is zeroized.
    fn grow(&mut self) {
        let hold = 2 * self.redactor.window();
        let chunk = self.pending.len() - hold;
        if chunk >= READ_CHUNK {
            return;
        }
        let mut grown = vec![0u8; (2 * chunk).min(READ_CHUNK) + hold];
        grown[..self.filled].copy_from_slice(&self.pending[..self.filled]);
        self.pending[..self.dirty].zeroize();
        self.pending = grown;
        self.dirty = self.filled;
    }
}

impl<R: Read> Read for RedactingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if let Some(cap) = self.over_cap {
                return Err(cap_error(cap, self.default_cap));
            }
            self.out.clear();
            self.out_pos = 0;
            if self.whole && !self.eof && self.filled < READ_CHUNK {
                self.fill()?;
                continue;
            }
            // A stalled scan waits for more data: nothing to compute until the next fill.
            if !self.stalled && self.scanned < self.filled {
                let len = self.filled;
                let boundary = if self.eof {
                    len
                } else {
                    len - self.redactor.held_tail(&self.pending[self.scanned..len])
                };
                if self.scanned < boundary {
                    (self.scanned, self.stalled) = self.redactor.scan(
                        &self.pending[..self.filled],
                        self.scanned,
                        boundary,
                        self.eof,
                        &mut self.run,
                        &mut self.out,
                        OUT_LIMIT,
                    );
                    continue;
                }
            }
            if self.eof {
                self.filled = 0;
                self.scanned = 0;
                self.run = Run::default();
                return Ok(0);
            }
            self.fill()?;
        }
    }
}

fn cap_error(cap: u64, default_cap: bool) -> io::Error {
    let message = if default_cap {
        format!(
            "response body exceeds {cap} bytes, the default cap of a response read whole; \
             stream it (`invoke --stream`) or raise the capability's maxResponseBodyBytes"
        )
    } else {
        format!("response body exceeds the capability's maxResponseBodyBytes ({cap} bytes)")
    };
    io::Error::other(Error::new(ErrorKind::PolicyViolation, message))
}

/// The aivault error inside an `io::Error` returned by [`RedactingReader`] (the size cap),
/// if it is one.
pub(crate) fn policy_error(err: &io::Error) -> Option<Error> {
    if err.kind() != io::ErrorKind::Other {
        return None;
    }
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .map(|inner| Error::new(inner.kind(), inner.message()))
}
