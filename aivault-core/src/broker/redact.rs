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

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, ErrorKind};

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

/// The most bytes [`RedactingReader`] reads from upstream at once.
const READ_CHUNK: usize = 32 * 1024;

/// The most bytes [`RedactingReader`] reads at first: its buffer grows (doubling, up to
/// [`READ_CHUNK`]) only after a read filled all the space offered, so a small response does
/// not pay for allocating and zeroing 32 KiB.
const FIRST_CHUNK: usize = 4 * 1024;

/// [`RedactingReader`] stops redacting into its output buffer once it holds this many bytes.
const OUT_LIMIT: usize = 32 * 1024;

/// Characters besides ASCII alphanumerics left unencoded, one set per URL-encoder family.
const URL_SAFE_SETS: [&[u8]; 4] = [
    // RFC 3986 unreserved (Go's QueryEscape, Python's quote_plus, curl).
    b"-._~",
    // JavaScript's encodeURIComponent.
    b"-._~!'()*",
    // WHATWG application/x-www-form-urlencoded.
    b"*-._",
    // Python's quote() default (keeps `/`).
    b"-._~/",
];

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

/// Pushes every form of `secret` (see the module docs) onto `needles`.
fn secret_forms(secret: &[u8], needles: &mut Vec<Zeroizing<Vec<u8>>>) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    needles.push(Zeroizing::new(secret.to_vec()));
    for style in 0..16u8 {
        needles.push(json_escape(
            secret,
            JsonStyle {
                slash: style & 1 != 0,
                html: style & 2 != 0,
                ascii: style & 4 != 0,
                upper: style & 8 != 0,
            },
        ));
    }
    for safe in URL_SAFE_SETS {
        for upper in [true, false] {
            for plus in [false, true] {
                needles.push(url_encode(secret, safe, upper, plus));
            }
        }
    }
    needles.push(hex(secret, false));
    needles.push(hex(secret, true));
    // Every byte percent-encoded (an encoder that escapes everything).
    needles.push(percent_all(secret, false));
    needles.push(percent_all(secret, true));
    if let Ok(text) = std::str::from_utf8(secret) {
        for style in [Entity::Decimal, Entity::HexLower, Entity::HexUpper] {
            needles.push(html_entities(text, style));
        }
        if text.contains(['&', '<', '>', '"', '\'']) {
            needles.push(html_escape(text, false));
            needles.push(html_escape(text, true));
        }
        needles.push(utf16(text, false));
        needles.push(utf16(text, true));
    }
    for form in base64_forms(secret) {
        if form.len() < MIN_DERIVED_LEN {
            continue;
        }
        if form.contains(&b'/') {
            needles.push(json_escape(
                &form,
                JsonStyle {
                    slash: true,
                    html: false,
                    ascii: false,
                    upper: false,
                },
            ));
        }
        if form.iter().any(|b| matches!(b, b'+' | b'/' | b'=')) {
            needles.push(url_encode(&form, URL_SAFE_SETS[0], true, false));
            needles.push(url_encode(&form, URL_SAFE_SETS[0], false, false));
        }
        needles.push(form);
    }
}

/// The base64 needles of `secret`: per alphabet and alignment, the secret-only characters,
/// the unpadded tail and the padded tail.
fn base64_forms(secret: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut forms = Vec::with_capacity(18);
    for align in 0..3usize {
        let mut input = Zeroizing::new(vec![0u8; align]);
        input.extend_from_slice(secret);
        let bits = 8 * input.len();
        // The first character with no bit from the alignment bytes.
        let first = (8 * align).div_ceil(6);
        // The characters made only of secret bits (the last one may be partial).
        let full_end = bits / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = Zeroizing::new(engine.encode(input.as_slice()));
            let encoded = encoded.as_bytes();
            forms.push(Zeroizing::new(encoded[first..full_end].to_vec()));
            forms.push(Zeroizing::new(encoded[first..].to_vec()));
            let mut padded = Zeroizing::new(encoded[first..].to_vec());
            let pads = (4 - encoded.len() % 4) % 4;
            padded.extend(std::iter::repeat_n(b'=', pads));
            forms.push(padded);
        }
    }
    forms
}

/// How a JSON encoder escapes a string.
#[derive(Clone, Copy)]
struct JsonStyle {
    /// `/` as `\/` (PHP, some Java encoders).
    slash: bool,
    /// `<` `>` `&` U+2028 U+2029 as `\u…` (Go's default).
    html: bool,
    /// Non-ASCII as `\u…` UTF-16 units (Python's default).
    ascii: bool,
    /// Upper-case hex digits in `\u…` (Jackson).
    upper: bool,
}

fn json_escape(value: &[u8], style: JsonStyle) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() + 16));
    match std::str::from_utf8(value) {
        Ok(text) => {
            for c in text.chars() {
                json_escape_char(c, style, &mut out);
            }
        }
        // Not text: only the ASCII escapes apply, other bytes pass through as encoders do.
        Err(_) => {
            for &b in value {
                if b.is_ascii() {
                    json_escape_char(char::from(b), style, &mut out);
                } else {
                    out.push(b);
                }
            }
        }
    }
    out
}

fn json_escape_char(c: char, style: JsonStyle, out: &mut Vec<u8>) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '/' if style.slash => out.extend_from_slice(b"\\/"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        c if u32::from(c) < 0x20 => push_unicode_escape(c, style.upper, out),
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if style.html => {
            push_unicode_escape(c, style.upper, out)
        }
        c if style.ascii && !c.is_ascii() => push_unicode_escape(c, style.upper, out),
        c => {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
}

fn push_unicode_escape(c: char, upper: bool, out: &mut Vec<u8>) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.extend_from_slice(b"\\u");
        for shift in [12u16, 8, 4, 0] {
            out.push(hex_digit(((*unit >> shift) & 0xf) as u8, upper));
        }
    }
}

fn url_encode(value: &[u8], safe: &[u8], upper: bool, plus: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            out.push(b);
        } else if b == b' ' && plus {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', hex_digit(b >> 4, upper), hex_digit(b & 0xf, upper)]);
        }
    }
    out
}

/// Every byte as `%XX`, alphanumerics included.
fn percent_all(value: &[u8], upper: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        out.extend_from_slice(&[b'%', hex_digit(b >> 4, upper), hex_digit(b & 0xf, upper)]);
    }
    out
}

/// How an HTML numeric character reference is spelled.
#[derive(Clone, Copy)]
enum Entity {
    /// `&#115;`
    Decimal,
    /// `&#x6b;`
    HexLower,
    /// `&#x6B;`
    HexUpper,
}

/// Every character as an HTML numeric character reference.
fn html_entities(text: &str, style: Entity) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 7));
    for c in text.chars() {
        let code = u32::from(c);
        let mut digits = Zeroizing::new(match style {
            Entity::Decimal => format!("&#{code};"),
            Entity::HexLower => format!("&#x{code:x};"),
            Entity::HexUpper => format!("&#x{code:X};"),
        });
        out.extend_from_slice(digits.as_bytes());
        digits.zeroize();
    }
    out
}

/// HTML-escaped text: `& < > "` as named references, `'` as `&#39;` or `&#x27;`.
fn html_escape(text: &str, hex_quote: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() + 16));
    for c in text.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' if hex_quote => out.extend_from_slice(b"&#x27;"),
            '\'' => out.extend_from_slice(b"&#39;"),
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out
}

/// The text as UTF-16, little- or big-endian.
fn utf16(text: &str, big_endian: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 2));
    for unit in text.encode_utf16() {
        let bytes = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    out
}

fn hex(value: &[u8], upper: bool) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 2));
    for &b in value {
        out.extend_from_slice(&[hex_digit(b >> 4, upper), hex_digit(b & 0xf, upper)]);
    }
    out
}

fn hex_digit(nibble: u8, upper: bool) -> u8 {
    match nibble {
        0..=9 => b'0' + nibble,
        _ if upper => b'A' + nibble - 10,
        _ => b'a' + nibble - 10,
    }
}

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
    pending: Vec<u8>,
    /// `pending[..dirty]` has held upstream bytes: what drop zeroizes (a 1 KiB response does
    /// not pay for wiping the whole buffer).
    dirty: usize,
    filled: usize,
    scanned: usize,
    /// The redacted run in progress (`pending[..run.covered]` was emitted).
    run: Run,
    /// The last scan stopped at the end of a run to see more data.
    stalled: bool,
    /// Redacted bytes not yet returned; `out[..out_pos]` has been.
    out: Vec<u8>,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    const SECRET: &[u8] = b"sk-live_9f8E7d6C5b4A/x+y=z~Q";

    fn redactor(secrets: &[&[u8]]) -> Redactor {
        Redactor::new(secrets, &[])
    }

    fn redact_text(r: &Redactor, text: &str) -> String {
        String::from_utf8(r.redact(text.as_bytes())).unwrap()
    }

    /// Returns at most `chunk` bytes per read.
    struct Chunked<'a> {
        data: &'a [u8],
        pos: usize,
        chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// Returns the first `split` bytes in one read, then the rest.
    struct Split<'a> {
        data: &'a [u8],
        pos: usize,
        split: usize,
    }

    impl Read for Split<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let end = if self.pos < self.split {
                self.split
            } else {
                self.data.len()
            };
            let n = buf.len().min(end - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn stream(
        r: &Arc<Redactor>,
        inner: impl Read,
        read_size: usize,
        cap: Option<u64>,
    ) -> io::Result<Vec<u8>> {
        let reader = RedactingReader::new(inner, Arc::clone(r), cap);
        drain(reader, read_size)
    }

    /// Reads `reader` to its end, `read_size` bytes at a time.
    fn drain(mut reader: RedactingReader<impl Read>, read_size: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; read_size];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// `find_match` as it was before the sampling: every position goes through the two-byte
    /// prefix filter. The reference of the differential test and the timing test.
    fn find_match_reference(
        r: &Redactor,
        data: &[u8],
        from: usize,
        stop: usize,
    ) -> Option<(usize, usize)> {
        let stop = stop.min(data.len());
        if from >= stop {
            return None;
        }
        let pair_stop = stop.min(data.len() - 1);
        if from < pair_stop {
            let filter = r.pair_filter.as_slice();
            for (offset, window) in data[from..=pair_stop].windows(2).enumerate() {
                let key = pair_key(window[0], window[1]);
                if filter[usize::from(key >> 6)] & (1u64 << (key & 63)) != 0 {
                    let at = from + offset;
                    if let Some(len) = r.longest_at(data, at) {
                        return Some((at, len));
                    }
                }
            }
        }
        (pair_stop.max(from)..stop)
            .find(|&at| r.single[usize::from(data[at])])
            .map(|at| (at, 1))
    }

    /// Random needle sets (secrets of 1 to 80 bytes over small alphabets, so needles share
    /// pairs, or over all bytes; literals of 1, 2 or more bytes, or none so the sampling is
    /// used) and random data made of needles, parts of needles and noise: the sampled
    /// `find_match` returns what the every-position scan returns, for every match in turn from
    /// random `from` / `stop` (including `stop` short of the end, `from` at or past `stop`).
    #[test]
    fn find_match_agrees_with_every_position_scan() {
        let alphabets: [&[u8]; 4] = [b"ab", b"ab%2F=+/\\\"&<x ", b"sk-0123456789AZaz", b""];
        let mut rng = Rng(0x51_7cc1_b727_220a);
        let (mut sampled, mut found, mut queries) = (0, 0, 0);
        for case in 0..2500 {
            let alphabet = alphabets[rng.below(alphabets.len())];
            let byte = |rng: &mut Rng| match alphabet {
                [] => rng.next() as u8,
                letters => letters[rng.below(letters.len())],
            };
            let secrets: Vec<Vec<u8>> = (0..rng.below(4))
                .map(|_| (0..1 + rng.below(80)).map(|_| byte(&mut rng)).collect())
                .collect();
            let literals: Vec<String> = (0..rng.below(4))
                .map(|_| {
                    let len = match rng.below(4) {
                        0 => 1,
                        1 => 2,
                        _ => 3 + rng.below(30),
                    };
                    let bytes: Vec<u8> = (0..len).map(|_| byte(&mut rng)).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect();
            let secret_refs: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
            let r = Redactor::new(&secret_refs, &literals);
            sampled += usize::from(r.stride >= 2);

            let len = if rng.below(4) == 0 {
                rng.below(5001)
            } else {
                rng.below(300)
            };
            let mut data = Vec::with_capacity(len + 200);
            while data.len() < len {
                match (rng.below(3), r.needles.len()) {
                    (0, n) if n > 0 => data.extend_from_slice(&r.needles[rng.below(n)]),
                    (1, n) if n > 0 => {
                        let needle = &r.needles[rng.below(n)];
                        let start = rng.below(needle.len());
                        let end = start + 1 + rng.below(needle.len() - start);
                        data.extend_from_slice(&needle[start..end]);
                    }
                    _ => {
                        for _ in 0..1 + rng.below(20) {
                            data.push(byte(&mut rng));
                        }
                    }
                }
            }
            data.truncate(len);

            for _ in 0..8 {
                let near_end = |rng: &mut Rng| len.saturating_sub(rng.below(40));
                let stop = match rng.below(4) {
                    0 => len,
                    1 => near_end(&mut rng),
                    2 => len + rng.below(3),
                    _ => rng.below(len + 1),
                };
                let from = match rng.below(4) {
                    0 => 0,
                    1 => stop,
                    2 => stop.saturating_sub(rng.below(40)),
                    _ => rng.below(len + 2),
                };
                queries += 1;
                // Every match in turn, as `scan` walks them (at most 50 per query).
                let mut pos = from;
                for _ in 0..50 {
                    let got = r.find_match(&data, pos, stop);
                    let want = find_match_reference(&r, &data, pos, stop);
                    assert_eq!(got, want, "case {case}: from {pos}, stop {stop}, len {len}");
                    match got {
                        Some((at, _)) => {
                            found += 1;
                            pos = at + 1;
                        }
                        None => break,
                    }
                }
            }
        }
        // The cases exercise both paths and find matches.
        assert!(
            sampled > 800 && sampled < 2000,
            "{sampled} sampled needle sets"
        );
        assert!(found > queries, "{found} matches in {queries} queries");
    }

    #[test]
    fn raw_form() {
        let r = redactor(&[SECRET]);
        let text = format!("{{\"key\":\"{}\"}}", String::from_utf8_lossy(SECRET));
        assert_eq!(redact_text(&r, &text), "{\"key\":\"[REDACTED]\"}");
        assert_eq!(redact_text(&r, "nothing here"), "nothing here");
    }

    #[test]
    fn json_escaped_forms() {
        let secret = "ab\"cd/ef\\gh<é\u{2028}";
        let r = redactor(&[secret.as_bytes()]);
        for echoed in [
            // serde_json, JavaScript.
            serde_json::to_string(secret).unwrap(),
            // PHP's default.
            r#""ab\"cd\/ef\\gh<\u00e9\u2028""#.to_owned(),
            // Go's default.
            r#""ab\"cd/ef\\gh\u003cé\u2028""#.to_owned(),
            // Python's default.
            r#""ab\"cd/ef\\gh<\u00e9\u2028""#.to_owned(),
            // Everything escaped, upper-case hex.
            r#""ab\"cd\/ef\\gh\u003C\u00E9\u2028""#.to_owned(),
        ] {
            assert_eq!(redact_text(&r, &echoed), "\"[REDACTED]\"", "{echoed}");
        }
    }

    #[test]
    fn url_encoded_forms() {
        let secret = "pa ss/wo+rd!*";
        let r = redactor(&[secret.as_bytes()]);
        for echoed in [
            "pa%20ss%2Fwo%2Brd%21%2A",
            "pa%20ss%2fwo%2brd%21%2a",
            "pa+ss%2Fwo%2Brd%21%2A",
            "pa+ss%2fwo%2brd%21%2a",
            "pa%20ss%2Fwo%2Brd!*",
            "pa+ss%2Fwo%2Brd%21*",
            "pa%20ss/wo%2Brd%21%2A",
        ] {
            let out = redact_text(&r, &format!("?q={echoed}&x=1"));
            assert_eq!(out, "?q=[REDACTED]&x=1", "{echoed}");
        }
    }

    #[test]
    fn hex_forms() {
        let r = redactor(&[SECRET]);
        let lower: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
        let upper: String = SECRET.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(redact_text(&r, &format!("<{lower}>")), "<[REDACTED]>");
        assert_eq!(redact_text(&r, &format!("<{upper}>")), "<[REDACTED]>");
    }

    /// Base64 characters left in `out` that could carry secret bits.
    fn surviving_b64(out: &str) -> usize {
        out.replace(REDACTED, "")
            .bytes()
            .filter(|b| b.is_ascii_alphanumeric() || b"+/-_".contains(b))
            .count()
    }

    #[test]
    fn base64_forms_at_every_alignment() {
        let r = redactor(&[SECRET]);
        let engines = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD];
        for prefix in ["", "u", "us", "user:", "ab", "abcd"] {
            for suffix in ["", "x", "xy", "xyz", "wxyz"] {
                let mut data = prefix.as_bytes().to_vec();
                data.extend_from_slice(SECRET);
                data.extend_from_slice(suffix.as_bytes());
                for engine in engines {
                    let encoded = engine.encode(&data);
                    let out = redact_text(&r, &encoded);
                    assert!(out.contains(REDACTED), "{prefix:?} {suffix:?} {encoded}");
                    // Whatever survives decodes to nothing containing the secret...
                    if let Ok(decoded) = engine.decode(&out) {
                        assert!(!decoded.windows(SECRET.len()).any(|w| w == SECRET));
                    }
                    // ...and is no more than the prefix's and suffix's characters plus the
                    // two characters that mix their bits with the secret's.
                    let budget = (8 * prefix.len()).div_ceil(6) + (8 * suffix.len()).div_ceil(6);
                    assert!(
                        surviving_b64(&out) <= budget + 2,
                        "{prefix:?} {suffix:?}: {encoded} -> {out}"
                    );
                }
            }
        }
    }

    /// Fully percent-encoded (either hex case), HTML numeric references (decimal, hex in
    /// either case), HTML-escaped, UTF-16 (either byte order) and upper-case hex.
    #[test]
    fn encoder_forms_are_redacted() {
        let secret = "sk-live'9f<8E&7d\"6C";
        let r = redactor(&[secret.as_bytes()]);
        let percent = |upper: bool| -> String {
            secret
                .bytes()
                .map(|b| {
                    if upper {
                        format!("%{b:02X}")
                    } else {
                        format!("%{b:02x}")
                    }
                })
                .collect()
        };
        let entities = |f: &dyn Fn(u32) -> String| -> String {
            secret.chars().map(|c| f(u32::from(c))).collect()
        };
        let html = secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        let forms = [
            percent(true),
            percent(false),
            entities(&|c| format!("&#{c};")),
            entities(&|c| format!("&#x{c:x};")),
            entities(&|c| format!("&#x{c:X};")),
            html.clone(),
            html.replace("&#39;", "&#x27;"),
            secret.bytes().map(|b| format!("{b:02X}")).collect(),
        ];
        for form in &forms {
            assert_eq!(
                redact_text(&r, &format!("<{form}>")),
                "<[REDACTED]>",
                "{form}"
            );
        }
        for big_endian in [false, true] {
            let mut data = b"<".to_vec();
            for unit in secret.encode_utf16() {
                let bytes = if big_endian {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                };
                data.extend_from_slice(&bytes);
            }
            data.push(b'>');
            assert_eq!(r.redact(&data), b"<[REDACTED]>", "big endian: {big_endian}");
        }
    }

    /// An upstream echoing `half1 secret half2` (the secret split around a copy of itself,
    /// in any form) gets back one redaction, not both halves; so does any other partial copy
    /// next to a redacted run, whatever the read boundaries.
    #[test]
    fn halves_around_a_redacted_copy_are_redacted() {
        let secret: &[u8] = b"sk-abcdef0123456789";
        let r = Arc::new(redactor(&[secret, b"Bearer sk-abcdef0123456789"]));
        let copies = [
            secret.to_vec(),
            b"Bearer sk-abcdef0123456789".to_vec(),
            STANDARD.encode(secret).into_bytes(),
            hex(secret, true).to_vec(),
        ];
        for copy in &copies {
            for split in 1..secret.len() {
                let mut data = b"x:".to_vec();
                data.extend_from_slice(&secret[..split]);
                data.extend_from_slice(copy);
                data.extend_from_slice(&secret[split..]);
                data.extend_from_slice(b";y");
                let out = r.redact(&data);
                let text = String::from_utf8_lossy(&out).into_owned();
                let (head, tail) = (&secret[..split], &secret[split..]);
                assert_eq!(text.matches(REDACTED).count(), 1, "{split}: {text}");
                for half in [head, tail] {
                    if half.len() >= MIN_PARTIAL {
                        assert!(
                            !out.windows(half.len()).any(|w| w == half),
                            "{split}: {text}"
                        );
                    }
                }
                for chunk in [1, 3, 17] {
                    let inner = Chunked {
                        data: &data,
                        pos: 0,
                        chunk,
                    };
                    assert_eq!(stream(&r, inner, 5, None).unwrap(), out, "{split}/{chunk}");
                }
            }
        }
        // A partial copy away from any run is left alone; a single byte next to a run too.
        assert_eq!(
            redact_text(&r, "sk-abc is not a key"),
            "sk-abc is not a key"
        );
        assert_eq!(redact_text(&r, "'sk-abcdef0123456789'"), "'[REDACTED]'");
    }

    #[test]
    fn base64_of_basic_auth_token() {
        let r = redactor(&[b"hunter2-pass"]);
        let header = format!("Basic {}", STANDARD.encode("alice:hunter2-pass"));
        let out = r.redact_str(&header);
        assert!(out.starts_with("Basic YWxpY2U6"), "{out}");
        assert!(out.ends_with(REDACTED), "{out}");
    }

    #[test]
    fn base64_inside_json_and_urls() {
        // A secret whose standard base64 has `/` and `+`.
        let secret = [0xfbu8, 0xff, 0xbf, 0xfb, 0xef, 0xbe, 0x01, 0x02, 0x03];
        let r = redactor(&[&secret]);
        let encoded = STANDARD.encode(secret);
        assert!(encoded.contains('/') && encoded.contains('+'));
        let json = encoded.replace('/', "\\/");
        assert_eq!(redact_text(&r, &format!("\"{json}\"")), "\"[REDACTED]\"");
        let query = encoded.replace('+', "%2B").replace('/', "%2F");
        assert_eq!(redact_text(&r, &format!("a={query}&")), "a=[REDACTED]&");
    }

    #[test]
    fn rendered_values_expand_too() {
        let r = redactor(&[b"sk-abc123456", b"Bearer sk-abc123456"]);
        let echoed = STANDARD.encode("Bearer sk-abc123456");
        assert_eq!(redact_text(&r, &echoed), REDACTED);
        assert_eq!(
            redact_text(&r, "auth: Bearer sk-abc123456."),
            "auth: [REDACTED]."
        );
    }

    #[test]
    fn literals_are_verbatim_and_case_sensitive() {
        let r = Redactor::new(&[], &["internal-host.corp".to_owned(), String::new()]);
        assert_eq!(
            redact_text(&r, "via internal-host.corp and INTERNAL-HOST.CORP"),
            "via [REDACTED] and INTERNAL-HOST.CORP"
        );
        // Not expanded into other forms.
        let encoded = STANDARD.encode("internal-host.corp");
        assert_eq!(redact_text(&r, &encoded), encoded);
        // A one-byte literal works, including as the last byte.
        let r = Redactor::new(&[], &["#".to_owned()]);
        assert_eq!(redact_text(&r, "a#b#"), "a[REDACTED]b[REDACTED]");
        assert_eq!(r.window(), 1);
    }

    #[test]
    fn overlapping_needles_redact_their_union() {
        let r = Redactor::new(&[], &["abcdef12".to_owned(), "ef12345678".to_owned()]);
        assert_eq!(redact_text(&r, "xxabcdef12345678yy"), "xx[REDACTED]yy");
        // Leftmost-longest: the longer needle at the same start wins; adjacent runs stay apart.
        let r = Redactor::new(&[], &["abcd".to_owned(), "abcdefgh".to_owned()]);
        assert_eq!(
            redact_text(&r, "-abcdefgh-abcd-"),
            "-[REDACTED]-[REDACTED]-"
        );
        assert_eq!(redact_text(&r, "abcdabcd"), "[REDACTED][REDACTED]");
        // A self-overlapping run is one redaction.
        let r = Redactor::new(&[], &["aaaa".to_owned()]);
        assert_eq!(redact_text(&r, "xaaaaaaaaaay"), "x[REDACTED]y");
        assert_eq!(redact_text(&r, "xaaay"), "xaaay");
    }

    #[test]
    fn short_values_are_not_redacted_in_any_form() {
        let r = redactor(&[b"abc", b""]);
        assert_eq!(r.needle_count(), 0);
        assert_eq!(r.window(), 0);
        for text in ["abc", "616263", "YWJj", "xabcx", "%61bc"] {
            assert_eq!(redact_text(&r, text), text);
            let streamed = stream(&Arc::new(redactor(&[b"abc"])), text.as_bytes(), 2, None);
            assert_eq!(streamed.unwrap(), text.as_bytes());
        }
        // Four bytes is enough for the raw value, but partial base64 needles stay >= 6 chars.
        let r = redactor(&[b"abcd"]);
        assert_eq!(redact_text(&r, "xabcdx"), "x[REDACTED]x");
        assert!(r.needles.iter().all(|n| n.len() >= MIN_SECRET_LEN));
    }

    #[test]
    fn needle_count_for_a_typical_credential() {
        let r = redactor(&[
            b"sk-proj-AbCdEf0123456789",
            b"Bearer sk-proj-AbCdEf0123456789",
        ]);
        let count = r.needle_count();
        assert!((20..=80).contains(&count), "{count}");
    }

    #[test]
    fn headers_are_redacted() {
        let r = redactor(&[SECRET]);
        let value = format!("key={}; path=/", String::from_utf8_lossy(SECRET));
        assert_eq!(r.redact_str(&value), "key=[REDACTED]; path=/");
        assert_eq!(r.redact_str("plain"), "plain");
    }

    #[test]
    fn debug_prints_no_needle() {
        let r = Arc::new(Redactor::new(&[SECRET], &["operator-literal".to_owned()]));
        let printed = format!("{r:?}");
        assert!(printed.starts_with("Redactor"), "{printed}");
        let reader = RedactingReader::new(&b""[..], Arc::clone(&r), Some(10));
        let printed_reader = format!("{reader:?}");
        for text in [&printed, &printed_reader] {
            assert!(!text.contains("sk-live"), "{text}");
            assert!(!text.contains("operator"), "{text}");
            for needle in &r.needles {
                let needle = String::from_utf8_lossy(needle);
                assert!(!text.contains(needle.as_ref()), "{text}");
            }
        }
    }

    #[test]
    fn a_secret_split_at_every_read_boundary_is_caught() {
        let r = Arc::new(redactor(&[SECRET]));
        let b64 = STANDARD.encode([b"user:".as_slice(), SECRET].concat());
        let mut data = b"head ".to_vec();
        data.extend_from_slice(SECRET);
        data.extend_from_slice(b" mid ");
        data.extend_from_slice(b64.as_bytes());
        data.extend_from_slice(b" tail");
        let expected = r.redact(&data);
        assert!(!expected.windows(SECRET.len()).any(|w| w == SECRET));
        for chunk in [1, 7] {
            for read_size in [1, 3, 64] {
                let inner = Chunked {
                    data: &data,
                    pos: 0,
                    chunk,
                };
                assert_eq!(stream(&r, inner, read_size, None).unwrap(), expected);
            }
        }
        for split in 0..=data.len() {
            let inner = Split {
                data: &data,
                pos: 0,
                split,
            };
            assert_eq!(stream(&r, inner, 5, None).unwrap(), expected, "{split}");
        }
    }

    #[test]
    fn streaming_equals_whole_buffer_redaction() {
        let secrets: [&[u8]; 2] = [b"tok-12345678", b"Bearer tok-12345678"];
        let literals = ["aaaa".to_owned(), "x".to_owned(), "tok-1234zz".to_owned()];
        let r = Arc::new(Redactor::new(&secrets, &literals));
        let pieces: Vec<Vec<u8>> = vec![
            b"tok-12345678".to_vec(),
            b"Bearer tok-12345678".to_vec(),
            STANDARD.encode("u:tok-12345678").into_bytes(),
            b"aaaaaaa".to_vec(),
            b"tok-1234zz".to_vec(),
            b"x".to_vec(),
            b"tok-".to_vec(),
            b" ".to_vec(),
            b"{\"a\":1}".to_vec(),
            // Halves of a needle, to join runs as partial copies.
            b"345678".to_vec(),
            b"Bearer to".to_vec(),
            b"Mz".to_vec(),
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..400 {
            let mut data = Vec::new();
            for _ in 0..rng.below(40) {
                data.extend_from_slice(&pieces[rng.below(pieces.len())]);
            }
            let expected = r.redact(&data);
            for chunk in [1, 2, 7, 13, 4096] {
                let inner = Chunked {
                    data: &data,
                    pos: 0,
                    chunk,
                };
                let read_size = 1 + rng.below(20);
                let got = stream(&r, inner, read_size, None).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&expected),
                    "{} / {chunk} / {read_size}",
                    String::from_utf8_lossy(&data)
                );
                let mut whole = RedactingReader::new(
                    Chunked {
                        data: &data,
                        pos: 0,
                        chunk,
                    },
                    Arc::clone(&r),
                    None,
                );
                whole.cap_buffered(u64::MAX);
                assert_eq!(
                    String::from_utf8_lossy(&drain(whole, read_size).unwrap()),
                    String::from_utf8_lossy(&expected),
                    "read whole: {} / {chunk} / {read_size}",
                    String::from_utf8_lossy(&data)
                );
            }
        }
    }

    #[test]
    fn cap_exceeded_at_exactly_cap_plus_one() {
        let r = Arc::new(redactor(&[SECRET]));
        let data = vec![b'z'; 1001];
        let err = stream(&r, &data[..], 64, Some(1000)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        let policy = policy_error(&err).unwrap();
        assert_eq!(policy.kind(), ErrorKind::PolicyViolation);
        assert_eq!(
            policy.message(),
            "response body exceeds the capability's maxResponseBodyBytes (1000 bytes)"
        );
        // It stays failed, and never read far past the cap.
        let mut reader = RedactingReader::new(&data[..], Arc::clone(&r), Some(1000));
        let mut sink = Vec::new();
        assert!(reader.read_to_end(&mut sink).is_err());
        assert_eq!(reader.upstream_bytes(), 1001);
        assert!(reader.read(&mut [0u8; 8]).is_err());
        // Other io errors are not policy errors.
        assert!(policy_error(&io::Error::other("boom")).is_none());
        assert!(policy_error(&io::Error::from(io::ErrorKind::TimedOut)).is_none());
    }

    #[test]
    fn cap_not_exceeded_at_exactly_cap() {
        let r = Arc::new(redactor(&[SECRET]));
        let data = vec![b'z'; 1000];
        for chunk in [1, 7, 1000] {
            let inner = Chunked {
                data: &data,
                pos: 0,
                chunk,
            };
            assert_eq!(stream(&r, inner, 64, Some(1000)).unwrap(), data);
        }
        let mut reader = RedactingReader::new(&data[..], r, Some(1000));
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(reader.upstream_bytes(), 1000);
        assert_eq!(out, data);
    }

    /// Bodies past the first read size and past `READ_CHUNK`, with secrets across every
    /// buffer boundary: streamed and read whole, the bytes equal whole-buffer redaction, and
    /// the buffer grows only when reads fill it.
    #[test]
    fn growing_buffer_redacts_like_whole_buffer() {
        let secret: &[u8] = b"tok-0123456789abcdef";
        let r = Arc::new(Redactor::new(&[secret], &[]));
        let mut data = Vec::new();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        while data.len() < 3 * READ_CHUNK {
            data.extend(std::iter::repeat_n(b'.', rng.below(3000)));
            data.extend_from_slice(secret);
            // A partial copy too, which joins a run only when adjacent to one.
            data.extend_from_slice(&secret[..rng.below(secret.len())]);
        }
        let expected = r.redact(&data);
        assert!(expected.len() < data.len());
        for chunk in [100, FIRST_CHUNK - 1, FIRST_CHUNK, READ_CHUNK, 100_000] {
            for whole in [false, true] {
                let inner = Chunked {
                    data: &data,
                    pos: 0,
                    chunk,
                };
                let mut reader = RedactingReader::new(inner, Arc::clone(&r), None);
                if whole {
                    reader.cap_buffered(u64::MAX);
                }
                let mut got = Vec::new();
                reader.read_to_end(&mut got).unwrap();
                assert!(got == expected, "chunk {chunk}, whole {whole}");
                let hold = 2 * r.window();
                let grown = reader.pending.len() - hold;
                // A stream grows only when reads fill all the space offered; a large body
                // read whole fills the buffer whatever the read size.
                if whole || chunk >= READ_CHUNK {
                    assert_eq!(grown, READ_CHUNK, "chunk {chunk}, whole {whole}");
                } else {
                    assert_eq!(grown, FIRST_CHUNK, "chunk {chunk}: grew to {grown}");
                }
            }
        }
        // A small body never grows the buffer.
        let small = b"{\"echo\":\"tok-0123456789abcdef\"}";
        let mut reader = RedactingReader::new(&small[..], Arc::clone(&r), None);
        reader.cap_buffered(u64::MAX);
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"{\"echo\":\"[REDACTED]\"}");
        assert_eq!(reader.pending.len(), FIRST_CHUNK + 2 * r.window());
    }

    #[test]
    fn empty_redactor_passes_everything_through() {
        let r = Arc::new(Redactor::new(&[], &[]));
        assert_eq!(r.window(), 0);
        let data = b"anything at all".to_vec();
        assert_eq!(r.redact(&data), data);
        assert_eq!(stream(&r, &data[..], 3, None).unwrap(), data);
        assert_eq!(stream(&r, &b""[..], 3, None).unwrap(), b"");
    }

    #[test]
    fn buffers_stay_bounded() {
        // A one-byte literal makes the output ten times the input: the worst case.
        let r = Arc::new(Redactor::new(&[SECRET], &["q".to_owned()]));
        let data = vec![b'q'; 3 * READ_CHUNK + 17];
        let mut reader = RedactingReader::new(&data[..], Arc::clone(&r), None);
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            assert!(
                reader.pending.capacity() <= READ_CHUNK + 2 * r.window()
                    && reader.filled <= reader.pending.len()
            );
            assert!(reader.out.len() <= OUT_LIMIT + REDACTED.len());
        }
        assert_eq!(total, data.len() * REDACTED.len());
    }

    /// `cargo test -p aivault-core --lib --release broker::redact -- --ignored --nocapture`
    #[test]
    #[ignore = "throughput measurement"]
    fn throughput_100_mib() {
        let secrets: [&[u8]; 2] = [
            b"sk-proj-AbCdEf0123456789/xyz",
            b"Bearer sk-proj-AbCdEf0123456789/xyz",
        ];
        let r = Arc::new(Redactor::new(&secrets, &["internal.corp".to_owned()]));
        // JSON-ish text with base64 and hex noise and a secret every 64 KiB.
        let mut rng = Rng(42);
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/ \":,{}";
        let mut block = Vec::with_capacity(1 << 20);
        while block.len() < (1 << 20) {
            if block.len() % (64 * 1024) < 80 {
                block.extend_from_slice(secrets[0]);
            }
            block.push(alphabet[rng.below(alphabet.len())]);
        }
        struct Repeat<'a> {
            block: &'a [u8],
            left: usize,
            pos: usize,
        }
        impl Read for Repeat<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.left).min(self.block.len() - self.pos);
                buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
                self.pos = (self.pos + n) % self.block.len();
                self.left -= n;
                Ok(n)
            }
        }
        let total = 100 << 20;
        let inner = Repeat {
            block: &block,
            left: total,
            pos: 0,
        };
        let mut reader = RedactingReader::new(inner, Arc::clone(&r), None);
        let mut buf = vec![0u8; 16 * 1024];
        let started = std::time::Instant::now();
        let mut out = 0usize;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out += n;
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(reader.upstream_bytes(), total as u64);
        assert!(
            reader.pending.capacity() <= READ_CHUNK + 2 * r.window()
                && reader.filled <= reader.pending.len()
        );
        println!(
            "{} needles, window {}: {} MiB in {secs:.3}s = {:.0} MiB/s (output {out} bytes)",
            r.needle_count(),
            r.window(),
            total >> 20,
            (total >> 20) as f64 / secs
        );
    }

    /// Nanoseconds per byte of `find_match` over the benchmarks' 1 KiB JSON body (and over
    /// 1 KiB of base64 and JSON noise), with the redactor of a 50-character secret and its
    /// `Bearer ` rendering: the sampled scan against the every-position one, interleaved.
    ///
    /// `cargo test -p aivault-core --lib --release find_match_ns_per_byte -- --ignored --nocapture`
    #[test]
    #[ignore = "timing measurement"]
    fn find_match_ns_per_byte() {
        use std::hint::black_box;
        use std::time::Instant;
        let key: &[u8] = b"sk-bench-upstream-0123456789abcdefghijklmnopqrstuv";
        let bearer = [b"Bearer ".as_slice(), key].concat();
        let r = Redactor::new(&[key, &bearer], &[]);
        // `body_1k()` of benches/fixtures.
        let mut json = br#"{"object":"list","data":[{"id":"gpt-bench","object":"model","owned_by":"bench","pad":""#.to_vec();
        json.resize(1024 - 4, b'x');
        json.extend_from_slice(br#""}]}"#);
        let mut rng = Rng(7);
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/ \":,{}";
        let noise: Vec<u8> = (0..1024)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        println!("{} needles, stride {}", r.needle_count(), r.stride);
        const CALLS: u32 = 20_000;
        for (name, body) in [("json 1 KiB", &json), ("noise 1 KiB", &noise)] {
            assert_eq!(r.find_match(body, 0, body.len()), None);
            assert_eq!(find_match_reference(&r, body, 0, body.len()), None);
            let (mut old, mut new) = (Vec::new(), Vec::new());
            for _ in 0..15 {
                let started = Instant::now();
                for _ in 0..CALLS {
                    black_box(find_match_reference(&r, black_box(body), 0, body.len()));
                }
                old.push(started.elapsed().as_nanos() as f64 / f64::from(CALLS) / 1024.0);
                let started = Instant::now();
                for _ in 0..CALLS {
                    black_box(r.find_match(black_box(body), 0, body.len()));
                }
                new.push(started.elapsed().as_nanos() as f64 / f64::from(CALLS) / 1024.0);
            }
            old.sort_by(f64::total_cmp);
            new.sort_by(f64::total_cmp);
            println!(
                "{name}: every position {:.3} ns/byte, sampled {:.3} ns/byte (medians of 15 \
                 interleaved rounds of {CALLS} calls), {:.1}x",
                old[7],
                new[7],
                old[7] / new[7]
            );
        }
    }

    /// A stream releases what cannot start a secret at once (server-sent events are not
    /// delayed), and holds back only a possible partial match.
    #[test]
    fn streams_release_everything_but_a_partial_match() {
        let r = Arc::new(Redactor::new(&[b"sk-secret-value".as_slice()], &[]));
        let chunks: Vec<&[u8]> = vec![b"data: one\n\n", b"data: sk-sec", b"ret-value\n\n"];
        struct Chunks<'a>(Vec<&'a [u8]>);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let chunk = self.0.remove(0);
                buf[..chunk.len()].copy_from_slice(chunk);
                Ok(chunk.len())
            }
        }
        let mut reader = RedactingReader::new(Chunks(chunks), r, None);
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"data: one\n\n");
        let n = reader.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"data: ", "the partial match is held back");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"[REDACTED]\n\n");
    }
}
