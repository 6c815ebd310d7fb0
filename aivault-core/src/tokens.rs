//! Caller tokens (`aivault token create | list | revoke`): what an agent on the other side of
//! the `aivault serve` boundary holds instead of the vault's key. A token names the
//! capabilities (ids or `*` globs) and the one context (workspace, group, consumer) it may use;
//! it can list, describe and invoke those, nothing else, and never widen its context.
//!
//! The token text (`avt_` + 32 random bytes, base64url) is shown once; only its SHA-256 is
//! stored (a token has 256 bits of entropy, so a fast hash cannot be inverted). The record is
//! a row authenticated by its MAC like every row the vault trusts, so editing vault.db cannot
//! widen a grant, extend an expiry, undo a revocation or swap in a known hash. Every refusal is
//! audited (`token.refused`), naming the token when it is known, never its text.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::audit::{self, NewEvent, kinds};
use crate::bindings::validate_consumer;
use crate::broker::Invocation;
use crate::capabilities::find_capability;
use crate::catalog::{CapabilityDescription, CapabilityListing};
use crate::crypto;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Scope, printable};
use crate::sensitive::SecretValue;
use crate::vault::{Vault, now_ms};

/// What every token's text starts with.
pub const TOKEN_PREFIX: &str = "avt_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// The longest lifetime a token may be given.
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// A caller token as stored: its grant, lifetime and the hash of its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRecord {
    /// `tok_` + 16 hex digits.
    pub id: String,
    /// The operator's name for it (unique).
    pub name: String,
    /// Hex SHA-256 of the token text.
    pub hash: String,
    /// Capability ids or `*` globs it may list, describe and invoke.
    pub capabilities: Vec<String>,
    /// The workspace every call runs in, if any.
    pub workspace_id: Option<String>,
    /// The group (of that workspace) every call runs in, if any.
    pub group_id: Option<String>,
    /// The consumer every call runs as, if any.
    pub consumer: Option<String>,
    /// When it was created (ms since the epoch).
    pub created_at_ms: i64,
    /// When it stops working, if ever.
    pub expires_at_ms: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

/// A token as listed: everything but the hash, plus its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenMeta {
    /// `tok_` + 16 hex digits.
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    /// Capability ids or `*` globs.
    pub capabilities: Vec<String>,
    /// The workspace of its context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// The group of its context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The consumer of its context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// Created (ms since the epoch).
    pub created_at_ms: i64,
    /// Expires (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// Revoked (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
    /// `active`, `expired` or `revoked`, as of the listing.
    pub state: &'static str,
}

impl TokenRecord {
    fn meta(&self, now: i64) -> TokenMeta {
        TokenMeta {
            id: self.id.clone(),
            name: self.name.clone(),
            capabilities: self.capabilities.clone(),
            workspace_id: self.workspace_id.clone(),
            group_id: self.group_id.clone(),
            consumer: self.consumer.clone(),
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            revoked_at_ms: self.revoked_at_ms,
            state: if self.revoked_at_ms.is_some() {
                "revoked"
            } else if self.expires_at_ms.is_some_and(|at| at <= now) {
                "expired"
            } else {
                "active"
            },
        }
    }
}

/// `aivault token create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewToken {
    /// A unique name: 1-64 characters of `A-Z a-z 0-9 . _ -`, not starting with `tok_`.
    pub name: String,
    /// Capability ids (which must exist) or `*` globs (`openai/*`), at least one.
    pub capabilities: Vec<String>,
    /// The workspace of its context.
    pub workspace_id: Option<String>,
    /// The group of its context (needs the workspace).
    pub group_id: Option<String>,
    /// The consumer of its context.
    pub consumer: Option<String>,
    /// Its lifetime (at most a year); `None` for no expiry.
    pub ttl: Option<Duration>,
}

/// A token just created: its metadata and its text, which is never shown again.
#[derive(Debug)]
pub struct CreatedToken {
    /// Its metadata.
    pub meta: TokenMeta,
    /// The token text (`avt_...`): hand it to the caller.
    pub token: SecretValue,
}

/// What an authenticated token allows: its capabilities and its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The token's id.
    pub id: String,
    /// The token's name (recorded with every call made with it).
    pub name: String,
    /// Capability ids or `*` globs.
    pub capabilities: Vec<String>,
    /// The workspace every call runs in.
    pub workspace_id: Option<String>,
    /// The group every call runs in.
    pub group_id: Option<String>,
    /// The consumer every call runs as.
    pub consumer: Option<String>,
}

impl TokenGrant {
    /// Whether the token names capability `id` (exactly or by a glob).
    pub fn allows(&self, id: &str) -> bool {
        self.capabilities.iter().any(|p| glob_match(p, id))
    }
}

/// Parses a lifetime: a positive number followed by `s`, `m`, `h` or `d` (`30m`, `7d`).
///
/// # Errors
/// `invalid_input` for anything else, or beyond a year.
pub fn parse_ttl(text: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "invalid --ttl '{}' (use a number and a unit: 45s, 30m, 1h, 7d; at most 366d)",
            printable(text)
        ))
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let number = &text[..text.len() - 1];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ttl = Duration::from_secs(n.checked_mul(seconds).ok_or_else(bad)?);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(bad());
    }
    Ok(ttl)
}

/// `*` matches any run of characters (including `/`); everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.starts_with("tok_");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid token name '{}' (use 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-', not starting with 'tok_')",
            printable(name)
        )))
    }
}

fn validate_pattern(pattern: &str) -> Result<()> {
    let ok = !pattern.is_empty()
        && pattern.len() <= 128
        && pattern.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'/' | b'.' | b'_' | b'-' | b'*')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid --capability '{}' (a capability id, or a glob with '*' such as 'openai/*')",
            printable(pattern)
        )))
    }
}

/// Hex SHA-256 of a token text.
fn token_hash(token: &str) -> String {
    crypto::to_hex(&sha2::Sha256::digest(token.as_bytes()))
}

/// Whether `text` has a caller token's shape (`avt_` and 43 URL-safe base64 characters):
/// anything else is refused before any lookup, and `aivault run` puts only such text in a
/// proxy URL.
pub fn well_formed(text: &str) -> bool {
    text.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn unauthorized(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unauthorized, message)
}

impl Vault {
    /// Creates a caller token and returns its text, once (`aivault token create`).
    ///
    /// # Errors
    /// `invalid_input` for a bad name, pattern, context or lifetime; `capability_not_found`
    /// for a capability id (not a glob) that does not exist; `already_exists` for a taken name.
    pub fn create_token(&self, new: NewToken) -> Result<CreatedToken> {
        validate_name(&new.name)?;
        if new.capabilities.is_empty() {
            return Err(Error::invalid(
                "a token needs at least one --capability (an id or a glob such as 'openai/*')",
            ));
        }
        for pattern in &new.capabilities {
            validate_pattern(pattern)?;
        }
        let scope = Scope::from_context(new.workspace_id.as_deref(), new.group_id.as_deref())?;
        let consumer = new.consumer.as_deref().map(validate_consumer).transpose()?;
        if let Some(ttl) = new.ttl
            && (ttl.is_zero() || ttl > MAX_TTL)
        {
            return Err(Error::invalid(
                "a token lives between 1 second and 366 days",
            ));
        }
        let bytes: [u8; TOKEN_BYTES] = crypto::random_bytes()?;
        let text = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let id_bytes: [u8; 8] = crypto::random_bytes()?;
        let now = now_ms();
        let record = TokenRecord {
            id: format!("tok_{}", crypto::to_hex(&id_bytes)),
            name: new.name.clone(),
            hash: token_hash(&text),
            capabilities: new.capabilities.clone(),
            workspace_id: new.workspace_id.clone(),
            group_id: new.group_id.clone(),
            consumer,
            created_at_ms: now,
            expires_at_ms: new
                .ttl
                .map(|ttl| now.saturating_add(ttl.as_millis() as i64)),
            revoked_at_ms: None,
        };
        self.write(|tx, keys| {
            for pattern in record.capabilities.iter().filter(|p| !p.contains('*')) {
                find_capability(self.registry(), tx, pattern)?;
            }
            if tx.token_get(&record.name)?.is_some() {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("a token named '{}' already exists", record.name),
                ));
            }
            tx.token_put(&record)?;
            audit::append(
                tx,
                &keys.audit,
                NewEvent::new(kinds::TOKEN_CREATE)
                    .scope(&scope)
                    .note(format!(
                        "token={} id={} capabilities={}{}{}",
                        record.name,
                        record.id,
                        record.capabilities.join(","),
                        record
                            .consumer
                            .as_deref()
                            .map(|c| format!(" consumer={c}"))
                            .unwrap_or_default(),
                        record
                            .expires_at_ms
                            .map(|at| format!(" expires_at_ms={at}"))
                            .unwrap_or_default(),
                    )),
                now,
            )
        })?;
        Ok(CreatedToken {
            meta: record.meta(now),
            token: SecretValue::new(text.into_bytes()),
        })
    }

    /// Every token, by name, with its state (never a token text or hash) (`aivault token list`).
    ///
    /// # Errors
    /// `integrity_failed` when a token row was edited outside aivault.
    pub fn list_tokens(&self) -> Result<Vec<TokenMeta>> {
        let now = now_ms();
        self.read_keyed(|tx, _| Ok(tx.token_list()?.iter().map(|t| t.meta(now)).collect()))
    }

    /// Revokes the token whose name or id is `label`; calls with it fail `unauthorized` from
    /// then on, in every process. Revoking a revoked token changes nothing.
    ///
    /// # Errors
    /// `not_found` when no token has that name or id.
    pub fn revoke_token(&self, label: &str) -> Result<TokenMeta> {
        let now = now_ms();
        self.write(|tx, keys| {
            let mut record = tx.token_get(label)?.ok_or_else(|| {
                Error::not_found(format!("no token named '{}'", printable(label)))
            })?;
            if record.revoked_at_ms.is_none() {
                record.revoked_at_ms = Some(now);
                tx.token_put(&record)?;
                audit::append(
                    tx,
                    &keys.audit,
                    NewEvent::new(kinds::TOKEN_REVOKE)
                        .note(format!("token={} id={}", record.name, record.id)),
                    now,
                )?;
            }
            Ok(record.meta(now))
        })
    }

    /// Checks a caller's token: well formed, known, not expired, not revoked. Refusals are
    /// audited (`token.refused`, naming the token when it is known, never its text).
    ///
    /// # Errors
    /// `unauthorized` for a missing, malformed, unknown, expired or revoked token;
    /// `integrity_failed` when its row was edited outside aivault.
    pub fn authenticate(&self, token: &str) -> Result<TokenGrant> {
        let now = now_ms();
        let record = if well_formed(token) {
            self.read_keyed(|tx, _| tx.token_by_hash(&token_hash(token)))?
        } else {
            None
        };
        let refusal = match &record {
            None if token.is_empty() => Some(("no token given".to_string(), None)),
            None => Some(("unknown token".to_string(), None)),
            Some(r) if r.revoked_at_ms.is_some() => {
                Some((format!("token '{}' was revoked", r.name), Some(r)))
            }
            Some(r) if r.expires_at_ms.is_some_and(|at| at <= now) => {
                Some((format!("token '{}' has expired", r.name), Some(r)))
            }
            Some(_) => None,
        };
        if let Some((why, known)) = refusal {
            // At most a burst of events per reason per second (refusal_throttle.rs); the
            // rest are counted in the next.
            if let Some(held_back) = self.refusals.admit(&why) {
                let noted = match held_back {
                    0 => why.clone(),
                    n => format!("{why} (and {n} more held back since the last such event)"),
                };
                self.record_refusal(&noted, known.map(|r| r.name.as_str()), None)?;
            }
            return Err(unauthorized(format!("{why}: the call is refused")));
        }
        let r = record.ok_or_else(|| Error::internal("token vanished"))?;
        Ok(TokenGrant {
            id: r.id,
            name: r.name,
            capabilities: r.capabilities,
            workspace_id: r.workspace_id,
            group_id: r.group_id,
            consumer: r.consumer,
        })
    }

    /// Fits a call into what `grant` allows: its capability must be one the token names, and
    /// its context (workspace, group, consumer) must be the token's or unset, in which case
    /// the token's is used. A call outside the token is audited and refused.
    ///
    /// # Errors
    /// `unauthorized` for a capability the token does not name or a different context.
    pub fn authorize(&self, grant: &TokenGrant, mut invocation: Invocation) -> Result<Invocation> {
        let widen = |field: &str, asked: &Option<String>, granted: &Option<String>| match (
            asked, granted,
        ) {
            (Some(a), g) if g.as_ref() != Some(a) => Some(format!(
                "token '{}' may not set {field} '{}'",
                grant.name,
                printable(a)
            )),
            _ => None,
        };
        let why = if !grant.allows(&invocation.capability) {
            Some(format!(
                "token '{}' does not grant capability '{}'",
                grant.name,
                printable(&invocation.capability)
            ))
        } else {
            widen("workspace", &invocation.workspace_id, &grant.workspace_id)
                .or_else(|| widen("group", &invocation.group_id, &grant.group_id))
                .or_else(|| widen("consumer", &invocation.consumer, &grant.consumer))
        };
        if let Some(why) = why {
            self.record_refusal(&why, Some(&grant.name), Some(&invocation.capability))?;
            return Err(unauthorized(why));
        }
        invocation.workspace_id = grant.workspace_id.clone();
        invocation.group_id = grant.group_id.clone();
        invocation.consumer = grant.consumer.clone();
        Ok(invocation)
    }

    /// The capabilities `grant` names, as `capability list` shows them (ready and available;
    /// policies of those only).
    ///
    /// # Errors
    /// As [`Vault::list_capabilities`].
    pub fn list_capabilities_granted(&self, grant: &TokenGrant) -> Result<CapabilityListing> {
        let mut listing = self.list_capabilities()?;
        listing.ready.retain(|c| grant.allows(&c.id));
        listing.available.retain(|c| grant.allows(&c.id));
        listing.policies.retain(|p| grant.allows(&p.capability_id));
        Ok(listing)
    }

    /// How to call capability `id`, for a token that names it; bindings (which name secrets of
    /// every context) are left out.
    ///
    /// # Errors
    /// `unauthorized` (audited) when the token does not name it; as
    /// [`Vault::describe_capability`].
    pub fn describe_capability_granted(
        &self,
        grant: &TokenGrant,
        id: &str,
    ) -> Result<CapabilityDescription> {
        if !grant.allows(id) {
            let why = format!(
                "token '{}' does not grant capability '{}'",
                grant.name,
                printable(id)
            );
            self.record_refusal(&why, Some(&grant.name), Some(id))?;
            return Err(unauthorized(why));
        }
        let mut description = self.describe_capability(id)?;
        description.bindings.clear();
        Ok(description)
    }

    /// Records a refused call (`token.refused`): why, the token's name when known, the
    /// capability when one was asked for. Never a token's text.
    ///
    /// # Errors
    /// As any audit write (`vault_locked`, `io`).
    pub fn record_refusal(
        &self,
        why: &str,
        token: Option<&str>,
        capability: Option<&str>,
    ) -> Result<()> {
        let now = now_ms();
        // A per-call record, like an invoke's event: durable against a process crash,
        // committed without an fsync (see "Durability and power loss" in the README).
        self.write_durable(crate::store::Durability::Normal, |tx, keys| {
            let mut event = NewEvent::new(kinds::TOKEN_REFUSED).note(match token {
                Some(name) => format!("token={name} reason={why}"),
                None => format!("reason={why}"),
            });
            if let Some(capability) = capability {
                event = event.capability(capability);
            }
            audit::append(tx, &keys.audit, event, now)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob_match("openai/*", "openai/chat-completions"));
        assert!(glob_match("*", "anything/at/all"));
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match(
            "openai/chat-completions",
            "openai/chat-completions"
        ));
        assert!(!glob_match("openai/*", "anthropic/messages"));
        assert!(!glob_match("openai/chat", "openai/chat-completions"));
        assert!(!glob_match("*/models", "openai/models/x"));
    }

    #[test]
    fn lifetimes_parse_with_units_and_bounds() {
        assert_eq!(parse_ttl("30m").ok(), Some(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("7d").ok(), Some(Duration::from_secs(7 * 86_400)));
        for bad in [
            "",
            "0s",
            "h",
            "1",
            "1w",
            "-1h",
            "1.5h",
            "367d",
            "99999999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn only_token_shaped_text_is_looked_up() {
        let good = format!("{TOKEN_PREFIX}{}", "A".repeat(43));
        assert!(well_formed(&good));
        assert!(!well_formed(&good[..good.len() - 1]));
        assert!(!well_formed(&format!("{TOKEN_PREFIX}{}", "=".repeat(43))));
        assert!(!well_formed("Bearer x"));
    }
}
