//! Response redaction (DESIGN §5): every value aivault injected is hidden from the response
//! bodies and headers handed back to the caller, in every form an upstream could plausibly
//! echo it back in.
//!
//! # Forms
//!
//! Each secret (a raw value, or a rendered value such as `Bearer sk-…` or a basic-auth token)
//! expands into these needles:
//!
//! * the raw bytes;
//! * JSON string escapes: `"` `\` and control characters always, and every combination of
//!   escaping `/` as `\/`, HTML-safe escapes (`<` `>` `&` U+2028 U+2029 as `\u…`, as Go does),
//!   non-ASCII as `\u…` UTF-16 units, and upper- or lower-case `\u` hex digits;
//! * URL encodings: percent-encoding everything outside a safe set (RFC 3986 unreserved;
//!   `encodeURIComponent`'s; WHATWG form-urlencoded's; unreserved plus `/`), with upper- and
//!   lower-case hex, and with a space as `%20` or `+`;
//! * every byte percent-encoded (`%73%6B…`), either hex case;
//! * lower- and upper-case hex;
//! * HTML numeric character references (`&#115;`, `&#x73;`, `&#x6B;`) and HTML-escaped text
//!   (`&amp;` `&lt;` `&gt;` `&quot;`, `'` as `&#39;` or `&#x27;`);
//! * UTF-16, little- and big-endian;
//! * base64, standard and URL-safe alphabets, at each of the three byte alignments a secret
//!   embedded in a larger base64 string can start at (e.g. `base64("user:" + secret)`). For an
//!   alignment `k`, `k` zero bytes + the secret are encoded and the leading characters that
//!   depend on the zero bytes are dropped; three needles are kept: the characters determined by
//!   the secret alone (for a secret in the middle of the data), and the full tail unpadded and
//!   padded (for a secret at the end of the data). Each base64 needle is also kept with `/` as
//!   `\/` (JSON) and URL-encoded (`+` `/` `=` as `%2B` `%2F` `%3D`, either hex case).
//!
//! Identical needles are kept once.
//!
//! # Thresholds
//!
//! A secret shorter than [`MIN_SECRET_LEN`] (4) bytes is not redacted at all, in any form:
//! three bytes occur by chance everywhere in ordinary text, and redacting them would destroy
//! responses while hiding almost nothing. JSON, URL and hex forms encode the whole secret and
//! are kept whenever the secret is. The base64 needles at alignments 1 and 2 carry only part of
//! the secret's bits, so a base64 needle shorter than [`MIN_DERIVED_LEN`] (6) characters is
//! dropped. Operator literals (policy `responseBodyBlocklist`) are redacted verbatim and
//! case-sensitively at any length of at least one byte: the operator asked for them.
//!
//! # Matching
//!
//! Matches are found leftmost-longest; a match that overlaps the previous one extends the same
//! redacted run (so no byte of any needle survives), and each run is replaced by one
//! [`REDACTED`]. A partial copy of any needle right next to a run joins it: the longest proper
//! prefix (of at least [`MIN_PARTIAL`] bytes) just before the run, and the longest proper
//! suffix just after it. Otherwise an upstream echoing `half1 secret half2` would hand back
//! both halves around a `[REDACTED]`. A stream holds back what such a prefix could be until
//! it knows what follows, so streamed and whole-buffer redaction give the same bytes.
//!
//! Candidate positions are found with two 8 KiB bitsets, so the cost per input byte does not
//! grow with the number of needles. With `s` the shortest needle's length minus one (at most
//! 16), every needle starting in a block of `s` positions covers the two bytes at the block's
//! last position with one of its first `s` two-byte windows; only that pair is looked up in
//! the bitset of those windows, and a miss skips the whole block. A block that hits (and every
//! position when a needle is shorter than 3 bytes, or too near the end of the data for the
//! sampled pair) goes through the bitset of the needles' two-byte prefixes, and a position
//! that passes it is compared with the needles that start with that pair.
//!
//! # Files
//!
//! This file holds the [`Redactor`] (needles, filters, matching); `forms.rs` the encodings
//! that turn a secret into needles; `reader.rs` the streaming [`RedactingReader`] and its
//! size cap; `cache.rs` the redactors shared across calls.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use forms::secret_forms;

mod cache;
mod forms;
mod reader;
#[cfg(test)]
mod tests;

pub(crate) use cache::RedactorCache;
pub(crate) use reader::{RedactingReader, policy_error};

/// The replacement text.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// A secret shorter than this many bytes is not redacted (in any form): too noisy.
pub(crate) const MIN_SECRET_LEN: usize = 4;

/// A partial base64 needle shorter than this many characters is dropped: too noisy.
pub(crate) const MIN_DERIVED_LEN: usize = 6;

/// A partial copy of a needle (a prefix just before a redacted run, or a suffix just after
/// one) at least this long joins the run: an upstream that echoes `half1 secret half2` must
/// not hand back both halves around a `[REDACTED]`. A single byte next to a run is not.
pub(crate) const MIN_PARTIAL: usize = 2;

/// The longest stride of [`Redactor::find_match`]'s sampling: a longer one would put more
/// pairs of each needle in its filter (denser, so more blocks checked) to skip more per lookup.
const MAX_STRIDE: usize = 16;

/// What to hide in a response: every injected secret in all the forms an upstream could echo
/// it back in, plus the operator's literal redaction strings.
pub(crate) struct Redactor {
    /// Distinct needles, sorted by length (longest first).
    needles: Vec<Zeroizing<Vec<u8>>>,
    /// Bit `(a << 8) | b` is set when some needle starts with `a b`, or a one-byte needle is `a`.
    pair_filter: Vec<u64>,
    /// Bit `(a << 8) | b` is set when `a b` occurs at an offset below `stride` in some needle:
    /// a sampled pair outside it rules out a match in the `stride` positions up to it.
    any_filter: Vec<u64>,
    /// The distance between sampled positions in [`Redactor::find_match`]: the shortest
    /// needle's length minus one, at most [`MAX_STRIDE`]; below 2 nothing is skipped.
    stride: usize,
    /// Two-byte prefix -> needle indices, longest first; sorted by prefix.
    buckets: Vec<(u16, Vec<u32>)>,
    /// `single[b]`: `[b]` is a needle.
    single: Vec<bool>,
    /// `first[b]`: a needle of two or more bytes starts with `b`.
    first: Vec<bool>,
    /// Two-byte prefix of a proper suffix (at least [`MIN_PARTIAL`] bytes) of some needle ->
    /// (needle index, suffix offset), longest suffix first; sorted by prefix.
    suffixes: Vec<(u16, Vec<(u32, u32)>)>,
    /// The longest needle's length.
    window: usize,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("needles", &self.needles.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Redactor {
    fn drop(&mut self) {
        // The filters hold needle prefixes and pairs; the needles zeroize themselves.
        self.pair_filter.zeroize();
        self.any_filter.zeroize();
        self.single.iter_mut().for_each(|b| *b = false);
        self.first.iter_mut().for_each(|b| *b = false);
        for (key, _) in &mut self.buckets {
            key.zeroize();
        }
        for (key, _) in &mut self.suffixes {
            key.zeroize();
        }
    }
}

impl Redactor {
    /// `secrets`: raw secret values and the rendered values aivault injected (e.g.
    /// `Bearer sk-…`, a basic-auth token); each expands into its forms (see the module docs).
    /// `literals`: operator redaction strings, redacted verbatim (case-sensitive) only.
    pub fn new(secrets: &[&[u8]], literals: &[String]) -> Redactor {
        let mut needles: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for secret in secrets {
            secret_forms(secret, &mut needles);
        }
        for literal in literals {
            if !literal.is_empty() {
                needles.push(Zeroizing::new(literal.as_bytes().to_vec()));
            }
        }
        needles.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();

        let mut pair_filter = vec![0u64; 1024];
        let mut single = vec![false; 256];
        let mut first = vec![false; 256];
        let mut buckets: Vec<(u16, Vec<u32>)> = Vec::new();
        for (index, needle) in needles.iter().enumerate() {
            match needle.as_slice() {
                [] => {}
                [b] => {
                    single[usize::from(*b)] = true;
                    for second in 0..=255u8 {
                        set_bit(&mut pair_filter, pair_key(*b, second));
                    }
                }
                [a, b, ..] => {
                    first[usize::from(*a)] = true;
                    let key = pair_key(*a, *b);
                    set_bit(&mut pair_filter, key);
                    // Needles are sorted longest first, so each bucket is too.
                    let slot = match buckets.binary_search_by_key(&key, |(k, _)| *k) {
                        Ok(slot) => slot,
                        Err(slot) => {
                            buckets.insert(slot, (key, Vec::new()));
                            slot
                        }
                    };
                    // Fewer than 2^32 needles: the index fits.
                    buckets[slot].1.push(index as u32);
                }
            }
        }
        let window = needles.first().map_or(0, |n| n.len());
        let shortest = needles.last().map_or(0, |n| n.len());
        let stride = shortest.saturating_sub(1).min(MAX_STRIDE);
        let mut any_filter = vec![0u64; 1024];
        if stride >= 2 {
            for needle in &needles {
                // Every needle has at least `stride + 1` bytes.
                for pair in needle[..=stride].windows(2) {
                    set_bit(&mut any_filter, pair_key(pair[0], pair[1]));
                }
            }
        }
        let suffixes = suffix_index(&needles);
        Redactor {
            needles,
            pair_filter,
            any_filter,
            stride,
            buckets,
            single,
            first,
            suffixes,
            window,
        }
    }

    /// Longest needle length (the streaming window); 0 when there is nothing to redact.
    pub fn window(&self) -> usize {
        self.window
    }

    /// How many trailing bytes of `data` a stream must hold back: the longest suffix that is
    /// the start of some needle (it could become a match when more bytes arrive). Everything
    /// before it can be redacted and released now, so a stream (server-sent events) is never
    /// delayed by more than a partial match.
    pub fn held_tail(&self, data: &[u8]) -> usize {
        let len = data.len();
        let max = self.window.saturating_sub(1).min(len);
        // Candidates go through the two-byte prefix filter; only their bucket is compared.
        for held in (2..=max).rev() {
            let at = len - held;
            let key = pair_key(data[at], data[at + 1]);
            if self.pair_filter[usize::from(key >> 6)] & (1u64 << (key & 63)) == 0 {
                continue;
            }
            let suffix = &data[at..];
            if let Ok(slot) = self.buckets.binary_search_by_key(&key, |(k, _)| *k)
                && self.buckets[slot].1.iter().any(|&index| {
                    let needle = &self.needles[index as usize];
                    needle.len() > held && needle.starts_with(suffix)
                })
            {
                return held;
            }
        }
        usize::from(max >= 1 && self.first[usize::from(data[len - 1])])
    }

    /// The length of a partial copy of a needle that ends `gap` (a proper prefix of at least
    /// [`MIN_PARTIAL`] bytes), or 0.
    fn partial_before(&self, gap: &[u8]) -> usize {
        let held = self.held_tail(gap);
        if held >= MIN_PARTIAL { held } else { 0 }
    }

    /// The length of the longest proper suffix of a needle (at least [`MIN_PARTIAL`] bytes)
    /// that `data[at..]` starts with, or 0.
    fn partial_after(&self, data: &[u8], at: usize) -> usize {
        let [a, b, ..] = &data[at..] else {
            return 0;
        };
        let key = pair_key(*a, *b);
        let Ok(slot) = self.suffixes.binary_search_by_key(&key, |(k, _)| *k) else {
            return 0;
        };
        self.suffixes[slot]
            .1
            .iter()
            .map(|&(index, offset)| &self.needles[index as usize][offset as usize..])
            .find(|suffix| data[at..].starts_with(suffix))
            .map_or(0, <[u8]>::len)
    }

    /// The number of distinct needles.
    #[cfg(test)]
    fn needle_count(&self) -> usize {
        self.needles.len()
    }

    /// Redacts a complete buffer.
    pub fn redact(&self, bytes: &[u8]) -> Vec<u8> {
        if self.needles.is_empty() {
            return bytes.to_vec();
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut run = Run::default();
        self.scan(bytes, 0, bytes.len(), true, &mut run, &mut out, usize::MAX);
        out
    }

    /// Redacts a header value (same forms).
    pub fn redact_str(&self, s: &str) -> String {
        self.redacted(s).unwrap_or_else(|| s.to_owned())
    }

    /// `s` redacted, or `None` when nothing in it is (so a large string is not copied).
    pub fn redacted(&self, s: &str) -> Option<String> {
        if self.needles.is_empty() || self.find_match(s.as_bytes(), 0, s.len()).is_none() {
            return None;
        }
        Some(match String::from_utf8(self.redact(s.as_bytes())) {
            Ok(text) => text,
            // A binary needle cut a character: keep the text valid, the needle is gone anyway.
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    /// Redacts `data[pos..to]` into `out` and returns the position reached, and whether the
    /// scan stopped there to see more data: the end of a run needs `window - 1` bytes after
    /// it (or the end of the input) to know whether a partial copy of a needle follows, and a
    /// needle prefix just before `to` may yet be joined by a match starting at `to`.
    ///
    /// `run.covered` is the end (an index into `data`) of the redacted run in progress: bytes
    /// before it are dropped silently. Every match starting before `to` must lie entirely in
    /// `data` (the caller holds back a possible partial match). `eof`: `data` is the end of
    /// the input. Stops early, at a consistent point, once `out` holds `out_limit` bytes.
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        data: &[u8],
        mut pos: usize,
        to: usize,
        eof: bool,
        run: &mut Run,
        out: &mut Vec<u8>,
        out_limit: usize,
    ) -> (usize, bool) {
        while pos < to {
            if pos < run.covered {
                // Inside a run: any match starting here extends it.
                let stop = run.covered.min(to);
                match self.find_match(data, pos, stop) {
                    Some((start, len)) => {
                        if start + len > run.covered {
                            run.covered = start + len;
                            run.open = true;
                        }
                        pos = start + 1;
                    }
                    None => pos = stop,
                }
                continue;
            }
            if run.open {
                // The run ends here: a partial copy of a needle right after it joins it.
                if !eof && data.len() - pos < self.window.saturating_sub(1) {
                    return (pos, true);
                }
                run.open = false;
                let tail = self.partial_after(data, pos);
                if tail > 0 {
                    run.covered = pos + tail;
                    continue;
                }
            }
            if out.len() >= out_limit {
                break;
            }
            let stop = to.min(pos.saturating_add(out_limit - out.len()));
            match self.find_match(data, pos, stop) {
                Some((start, len)) => {
                    // A partial copy of a needle right before the match joins the run.
                    let head = self.partial_before(&data[pos..start]);
                    out.extend_from_slice(&data[pos..start - head]);
                    out.extend_from_slice(REDACTED.as_bytes());
                    run.covered = start + len;
                    run.open = true;
                    pos = start + 1;
                }
                None => {
                    // A stream keeps a needle prefix at the end back: a match starting at
                    // `to` (not yet complete) would take it into its run.
                    let keep = if !eof && stop == to {
                        self.held_tail(&data[pos..stop])
                    } else {
                        0
                    };
                    out.extend_from_slice(&data[pos..stop - keep]);
                    pos = stop - keep;
                    if keep > 0 {
                        return (pos, true);
                    }
                }
            }
        }
        (pos, false)
    }

    /// The first position in `data[from..stop]` where a needle (lying entirely in `data`)
    /// starts, with the length of the longest needle there.
    ///
    /// Positions are taken in blocks of `stride`: a needle starting in `[at, at + stride)`
    /// has at least `stride + 1` bytes, so it covers the pair at `at + stride - 1` with one
    /// of its first `stride` pairs. One lookup in `any_filter` thus clears a whole block, and
    /// only a block whose sampled pair is in it is checked position by position. The last
    /// block, whose sampled pair would end past `data`, is checked position by position.
    fn find_match(&self, data: &[u8], mut from: usize, stop: usize) -> Option<(usize, usize)> {
        let stride = self.stride;
        if stride >= 2 {
            let stop = stop.min(data.len());
            let filter = self.any_filter.as_slice();
            while from < stop && from + stride < data.len() {
                let key = pair_key(data[from + stride - 1], data[from + stride]);
                if filter[usize::from(key >> 6)] & (1u64 << (key & 63)) != 0
                    && let Some(found) = self.find_match_each(data, from, stop.min(from + stride))
                {
                    return Some(found);
                }
                from += stride;
            }
        }
        self.find_match_each(data, from, stop)
    }

    /// [`Redactor::find_match`] checking every position (through the two-byte prefix filter).
    fn find_match_each(&self, data: &[u8], from: usize, stop: usize) -> Option<(usize, usize)> {
        let stop = stop.min(data.len());
        if from >= stop {
            return None;
        }
        // Positions with a following byte go through the two-byte prefix filter.
        let pair_stop = stop.min(data.len() - 1);
        if from < pair_stop {
            let filter = self.pair_filter.as_slice();
            for (offset, window) in data[from..=pair_stop].windows(2).enumerate() {
                let key = pair_key(window[0], window[1]);
                if filter[usize::from(key >> 6)] & (1u64 << (key & 63)) != 0 {
                    let at = from + offset;
                    if let Some(len) = self.longest_at(data, at) {
                        return Some((at, len));
                    }
                }
            }
        }
        // Only the last byte of `data` can remain: one-byte needles only.
        (pair_stop.max(from)..stop)
            .find(|&at| self.single[usize::from(data[at])])
            .map(|at| (at, 1))
    }

    /// The length of the longest needle starting at `data[at]`.
    fn longest_at(&self, data: &[u8], at: usize) -> Option<usize> {
        let rest = &data[at..];
        if let [a, b, ..] = rest {
            let key = pair_key(*a, *b);
            if let Ok(slot) = self.buckets.binary_search_by_key(&key, |(k, _)| *k) {
                for &index in &self.buckets[slot].1 {
                    let needle = &self.needles[index as usize];
                    if rest.starts_with(needle) {
                        return Some(needle.len());
                    }
                }
            }
        }
        match rest.first() {
            Some(&b) if self.single[usize::from(b)] => Some(1),
            _ => None,
        }
    }
}

/// The redacted run a scan is in.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    /// The end of the run (bytes before it are dropped).
    covered: usize,
    /// A match set `covered`: whether a partial needle copy follows is not decided yet.
    open: bool,
}

/// The index of every proper suffix of at least [`MIN_PARTIAL`] bytes of every needle, by
/// its first two bytes, longest first.
fn suffix_index(needles: &[Zeroizing<Vec<u8>>]) -> Vec<(u16, Vec<(u32, u32)>)> {
    let mut all: Vec<(u16, u32, u32, u32)> = Vec::new();
    for (index, needle) in needles.iter().enumerate() {
        for offset in 1..needle.len().saturating_sub(MIN_PARTIAL - 1) {
            let key = pair_key(needle[offset], needle[offset + 1]);
            // Fewer than 2^32 needles and bytes: the numbers fit.
            all.push((
                key,
                (needle.len() - offset) as u32,
                index as u32,
                offset as u32,
            ));
        }
    }
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut index: Vec<(u16, Vec<(u32, u32)>)> = Vec::new();
    for (key, _, needle, offset) in all {
        match index.last_mut() {
            Some((last, entries)) if *last == key => entries.push((needle, offset)),
            _ => index.push((key, vec![(needle, offset)])),
        }
    }
    index
}

fn pair_key(a: u8, b: u8) -> u16 {
    (u16::from(a) << 8) | u16::from(b)
}

fn set_bit(filter: &mut [u64], key: u16) {
    filter[usize::from(key >> 6)] |= 1u64 << (key & 63);
}
