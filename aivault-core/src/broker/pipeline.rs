//! `Vault::invoke`: the broker pipeline of DESIGN §5, step by step.

use crate::caller_files::ProtectedPaths;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{CredentialSecret, Scope, SecretMeta, parse_secret_ref, printable};
use crate::overlap::Governing;
use crate::registry::AuthSpec;
use crate::resolve::{Plan, PlanContext, plan_in};
use crate::sensitive::SecretValue;
use crate::store::StoreTx;
use crate::vault::{Keys, Vault};

use super::auth::{self, Injection, Secrets};
use super::call_cache::{PlanKey, Stamp};
use super::path::{self, RequestTarget};
use super::redact::Redactor;
use super::request::{Invocation, PreparedBody};
use super::response::{AuditDraft, InvokeResponse, Planned, ResponseStream};
use super::transport::{self, AgentKey, DEFAULT_TIMEOUT};
use super::{fields, headers, hmac_sign, oauth2, params, sigv4};

/// Rate limits count calls over this sliding window.
const RATE_WINDOW_MS: i64 = 60_000;

/// A checked request, before any secret is involved.
pub(crate) struct Checked<'i> {
    pub method: String,
    pub target: RequestTarget,
    pub headers: Vec<(String, String)>,
    pub body: PreparedBody<'i>,
    pub timeout: Duration,
    /// Every policy that governs the call (the named capability's and each overlapping one's).
    pub governing: Governing,
}

/// The decrypted secrets of a call and the metadata of each (for OAuth write-back), kept in
/// the call cache with what the calls of its credential reuse.
pub(crate) struct Unsealed {
    pub secrets: Secrets,
    pub metas: Vec<(String, SecretMeta)>,
    /// The HTTP agent of the credential (set at its first call).
    agent: OnceLock<ureq::Agent>,
    /// The redactor of the injected values with these response-body literals (set at the
    /// first call without an OAuth token or a signature; other calls use the shared cache).
    redactor: OnceLock<(Vec<String>, Arc<Redactor>)>,
}

impl Vault {
    /// Invokes a capability and reads the whole (redacted) response.
    ///
    /// The caller never supplies a host, scheme or credential value: the broker resolves the
    /// capability and credential for the context, checks method, path, headers and policy,
    /// injects the credential, sends the call through the network guard, never follows a
    /// redirect, and redacts every form of the injected secrets from the response. Upstream
    /// statuses (4xx, 5xx) are returned, not turned into errors. Blocking; thread-safe.
    ///
    /// # Errors
    /// `capability_not_found`, `credential_not_found`, `credential_ambiguous`;
    /// `invalid_input` (malformed path, header or body); `policy_violation` (method or path
    /// not allowed, caller auth headers or owned query parameters, header injection, size
    /// caps, a host the network guard refuses; a body read whole is capped at
    /// [`DEFAULT_BUFFERED_CAP`](super::DEFAULT_BUFFERED_CAP) unless the policy says
    /// otherwise); `rate_limited`; `vault_locked` / `decrypt_failed`; `upstream_error`
    /// (connection, TLS, timeout, a body in a content coding the broker did not ask for).
    /// Messages never hold a secret or a secret-bearing URL.
    pub fn invoke(&self, invocation: &Invocation) -> Result<InvokeResponse> {
        self.invoke_stream(invocation)?.into_response()
    }

    /// Like [`Vault::invoke`], but returns as soon as the upstream's status and headers
    /// arrive; the body is read (and redacted) as it streams.
    ///
    /// # Errors
    /// As [`Vault::invoke`]; body errors surface from `read`.
    pub fn invoke_stream(&self, invocation: &Invocation) -> Result<ResponseStream<'_>> {
        let started = Instant::now();
        let scope = Scope::from_context(
            invocation.workspace_id.as_deref(),
            invocation.group_id.as_deref(),
        )?;
        let context = PlanContext {
            workspace_id: invocation.workspace_id.clone(),
            group_id: invocation.group_id.clone(),
            consumer: invocation.consumer.clone(),
            credential: invocation.credential.clone(),
        };
        if let Some(consumer) = &context.consumer {
            crate::bindings::validate_consumer(consumer)?;
        }
        // What the caller asked for, recorded even when the call is refused before a
        // credential is found; the checks replace method and path with the normalized ones
        // (the query is the caller's data and is never recorded).
        let mut draft = AuditDraft {
            capability: audit_text(&invocation.capability),
            credential: None,
            secret_id: None,
            scope: scope.to_string(),
            consumer: invocation.consumer.clone(),
            caller: invocation.caller.as_deref().map(|c| {
                audit_text(
                    &c.chars()
                        .filter(|ch| !ch.is_control())
                        .take(200)
                        .collect::<String>(),
                )
            }),
            host: String::new(),
            method: invocation
                .method
                .as_deref()
                .map(audited_method)
                .unwrap_or_default(),
            path: invocation
                .path
                .as_deref()
                .map(|p| audit_text(p.split('?').next().unwrap_or_default()))
                .unwrap_or_default(),
            request_bytes: 0,
            status: None,
            response_bytes: 0,
            started,
            outcome: "ok".into(),
        };
        let key = PlanKey {
            capability: invocation.capability.clone(),
            context,
        };
        let plan = match self.cached_call(&key) {
            Some((plan, unsealed)) => Ok((plan, unsealed)),
            None => self.plan_and_cache(key, &scope).map(|plan| (plan, None)),
        };
        let (plan, unsealed) = match plan {
            Ok(found) => found,
            Err(e) => {
                // As below: a locked vault cannot append the event.
                if e.kind() != ErrorKind::VaultLocked {
                    self.record_call(draft.failed(e.kind()));
                }
                return Err(e);
            }
        };
        draft.capability = plan.capability.id.clone();
        draft.credential = Some(plan.credential.clone());
        draft.secret_id = plan
            .secrets
            .first()
            .and_then(|s| parse_secret_ref(&s.secret_ref).ok());
        draft.host = plan.host.clone();
        match self.call(invocation, &plan, unsealed, &mut draft) {
            Ok(stream) => Ok(stream),
            Err(e) => {
                // The refusal itself is worth recording, unless the vault is locked: without
                // its key no event can be appended, and the error already says why.
                if e.kind() != ErrorKind::VaultLocked {
                    self.record_call(draft.failed(e.kind()));
                }
                Err(e)
            }
        }
    }

    /// The plan `invocation` would run with (its capability in its context), from the call
    /// cache when valid (the HTTPS proxy reads which names the credential's auth owns).
    ///
    /// # Errors
    /// As [`Vault::invoke_stream`] before any request is made.
    pub(crate) fn plan_of(&self, invocation: &Invocation) -> Result<Arc<Plan>> {
        let scope = Scope::from_context(
            invocation.workspace_id.as_deref(),
            invocation.group_id.as_deref(),
        )?;
        let key = PlanKey {
            capability: invocation.capability.clone(),
            context: PlanContext {
                workspace_id: invocation.workspace_id.clone(),
                group_id: invocation.group_id.clone(),
                consumer: invocation.consumer.clone(),
                credential: invocation.credential.clone(),
            },
        };
        match self.cached_call(&key) {
            Some((plan, _)) => Ok(plan),
            None => self.plan_and_cache(key, &scope),
        }
    }

    /// The plan of `key` read through the MAC-checked path (a cache miss), kept in the call
    /// cache at the vault generation it was read at.
    fn plan_and_cache(&self, key: PlanKey, scope: &Scope) -> Result<Arc<Plan>> {
        // Keyed: the rows the plan reads (credential, policy, bindings) are checked against
        // their MACs; the call needs the key anyway.
        let (stamp, plan) = self.read_keyed(|tx, keys| {
            let plan = plan_in(self.registry(), tx, &key.capability, &key.context, scope)?;
            Ok((stamp_of(tx, keys)?, plan))
        })?;
        let plan = Arc::new(plan);
        self.call_cache_put(|cache| cache.put_plan(stamp, key, Arc::clone(&plan)));
        Ok(plan)
    }

    fn call<'v>(
        &'v self,
        invocation: &Invocation,
        plan: &Plan,
        cached: Option<Arc<Unsealed>>,
        draft: &mut AuditDraft,
    ) -> Result<ResponseStream<'v>> {
        let files = if invocation.body.names_files() {
            self.protected_paths()?
        } else {
            ProtectedPaths::default()
        };
        let checked = check(invocation, plan, &files)?;
        draft.method = checked.method.clone();
        draft.path = checked.target.path.clone();
        draft.request_bytes = checked.body.bytes.len() as u64;
        let unsealed = match cached {
            Some(unsealed) => {
                if !checked.governing.rate_limits.is_empty() {
                    self.write_unkeyed(|tx| take_rate_limits(tx, plan, &checked.governing))?;
                }
                unsealed
            }
            None => {
                let (stamp, unsealed) = self.unseal(plan, &checked.governing)?;
                let unsealed = Arc::new(unsealed);
                self.call_cache_put(|cache| {
                    cache.put_unsealed(stamp, plan, Arc::clone(&unsealed));
                });
                unsealed
            }
        };
        let mut injection = auth::render(&plan.auth, &unsealed.secrets)?;
        let agent = match unsealed.agent.get() {
            // Within one vault generation the credential's network options and identity do
            // not change: its calls reuse the agent without the transport's lookup.
            Some(agent) => agent.clone(),
            None => {
                let client_cert = match plan.auth {
                    AuthSpec::Mtls {} => Some(super::tls::client_cert(
                        secret(&unsealed.secrets, "certificate")?.expose(),
                        secret(&unsealed.secrets, "private_key")?.expose(),
                    )?),
                    _ => None,
                };
                let agent_key =
                    (!plan.network.is_default() || client_cert.is_some()).then(|| AgentKey {
                        credential: plan.credential.clone(),
                        network: serde_json::to_string(&plan.network).unwrap_or_default(),
                        identity: unsealed
                            .metas
                            .iter()
                            .map(|(role, m)| format!("{role}:{}:{}", m.secret_id, m.value_version))
                            .collect::<Vec<_>>()
                            .join(","),
                    });
                let agent = self
                    .transport()
                    .agent(agent_key, &plan.network, client_cert)?;
                let _ = unsealed.agent.set(agent.clone());
                agent
            }
        };
        let mut token = match &plan.auth {
            AuthSpec::Oauth2 { account_header, .. } => {
                let access = oauth2::access_token(self, plan, &unsealed, &agent, false)?;
                if let (Some(header), Some(account)) = (account_header, &access.account) {
                    injection.header(&header.name, account.clone())?;
                }
                Some(access.token)
            }
            _ => None,
        };
        if let Some(token) = &token {
            injection
                .injected
                .push(Zeroizing::new(token.as_bytes().to_vec()));
        }
        let literals = &checked.governing.policy.response_body_blocklist;
        let mut refreshed = false;
        loop {
            let request = build(
                plan,
                &checked,
                &injection,
                token.as_ref().map(|t| t.as_str()),
                &unsealed,
            )?;
            let mut needles: Vec<&[u8]> = injection.injected.iter().map(|v| v.as_slice()).collect();
            let redactor = if request.signed.is_empty() && token.is_none() {
                // Only the credential's own values: the same redactor on every call.
                match unsealed.redactor.get() {
                    Some((kept, redactor)) if kept == literals => Arc::clone(redactor),
                    _ => {
                        let redactor = self.redactors().get(&needles, literals);
                        let _ = unsealed
                            .redactor
                            .set((literals.clone(), Arc::clone(&redactor)));
                        redactor
                    }
                }
            } else if request.signed.is_empty() {
                self.redactors().get(&needles, literals)
            } else {
                // A signature is new on every call: its redactor is not worth caching. An
                // echoing upstream must not hand the caller a replayable signed request.
                needles.extend(request.signed.iter().map(|v| v.as_slice()));
                Arc::new(Redactor::new(&needles, literals))
            };
            drop(needles);
            let planned = request.planned.clone();
            let response = send(&agent, request, &plan.host, checked.timeout)
                .map_err(|e| scrub(e, &redactor))?;
            let status = response.status().as_u16();
            if status == 401 && token.is_some() && !refreshed {
                // The token may have been revoked or expired early: refresh once, retry once.
                drop(response);
                let fresh = oauth2::access_token(self, plan, &unsealed, &agent, true)?.token;
                injection
                    .injected
                    .push(Zeroizing::new(fresh.as_bytes().to_vec()));
                token = Some(fresh);
                refreshed = true;
                continue;
            }
            refuse_encoded_body(&response, &checked.method, &plan.host)?;
            let length_hint = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let headers = response
                .headers()
                .iter()
                .filter(|(name, _)| headers::response_header_allowed(name.as_str()))
                .filter(|(name, _)| !name_reveals(name.as_str(), &redactor, &injection.injected))
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        redactor.redact_str(&String::from_utf8_lossy(value.as_bytes())),
                    )
                })
                .collect();
            let reader = super::redact::RedactingReader::new(
                response.into_body().into_reader(),
                redactor,
                checked.governing.policy.max_response_body_bytes,
            );
            return Ok(ResponseStream {
                vault: self,
                planned,
                status,
                headers,
                reader,
                length_hint,
                audit: Some(draft.clone()),
            });
        }
    }

    /// Counts the call against every governing rate limit (one write shared by every
    /// process; a refusal by any of them rolls back the others' counts) and decrypts the
    /// credential's secrets — only those: the cost of a call does not depend on how many other
    /// secrets the vault holds.
    fn unseal(&self, plan: &Plan, governing: &Governing) -> Result<(Option<Stamp>, Unsealed)> {
        let work = |tx: &dyn StoreTx, keys: &Keys| -> Result<(Option<Stamp>, Unsealed)> {
            take_rate_limits(tx, plan, governing)?;
            let stamp = stamp_of(tx, keys)?;
            let mut unsealed = Unsealed {
                secrets: Secrets::new(),
                metas: Vec::new(),
                agent: OnceLock::new(),
                redactor: OnceLock::new(),
            };
            for link in &plan.secrets {
                let id = parse_secret_ref(&link.secret_ref)?;
                let record = tx.secret_get(&id)?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::CredentialNotFound,
                        format!(
                            "secret {} of credential '{}' no longer exists",
                            link.secret_ref, plan.credential
                        ),
                    )
                })?;
                let value = crate::envelope::open_value(
                    &keys.wrapping,
                    &crate::secrets::binding(keys, &record.meta),
                    &record.envelope,
                )?;
                if link.role == CredentialSecret::ALL_ROLES {
                    // One JSON secret of every role: read into the roles now (only this
                    // credential's call can fail on it).
                    unsealed
                        .secrets
                        .extend(fields::expand(&plan.auth, &plan.credential, &value)?);
                    let role = fields::whole_value_role(&plan.auth).unwrap_or(&link.role);
                    unsealed.metas.push((role.to_string(), record.meta));
                } else {
                    unsealed.secrets.insert(link.role.clone(), value);
                    unsealed.metas.push((link.role.clone(), record.meta));
                }
            }
            Ok((stamp, unsealed))
        };
        if !governing.rate_limits.is_empty() {
            // A rate-limit hit is a per-call record: durable against a process crash only.
            self.write_durable(crate::store::Durability::Normal, work)
        } else {
            self.read_keyed(work)
        }
    }
}

/// Where a transaction reads: the vault generation and the key id (for the call cache).
fn stamp_of(tx: &dyn StoreTx, keys: &Keys) -> Result<Option<Stamp>> {
    Ok(tx.vault_generation()?.map(|generation| Stamp {
        generation,
        key_id: keys.key_id.clone(),
    }))
}

/// Counts the call against every governing rate limit, in a write transaction shared by
/// every process; a refusal by any of them rolls back the others' counts.
fn take_rate_limits(tx: &dyn StoreTx, plan: &Plan, governing: &Governing) -> Result<()> {
    let now = crate::vault::now_ms();
    for (capability, limit) in &governing.rate_limits {
        if tx.rate_limit_take(capability, now, RATE_WINDOW_MS, *limit)? {
            continue;
        }
        let via = if *capability == plan.capability.id {
            String::new()
        } else {
            format!(
                " (its methods and paths admit this call, so its policy governs '{}' here too)",
                plan.capability.id
            )
        };
        let message = if *limit == 0 {
            format!(
                "capability '{capability}' denies every call (its policy sets a rate limit of 0 per minute){via}"
            )
        } else {
            format!(
                "capability '{capability}' allows {limit} calls per minute{via}; try again later"
            )
        };
        return Err(Error::new(ErrorKind::RateLimited, message));
    }
    Ok(())
}

/// Steps 2–4 without secrets: method, path, headers, owned parameters, body size.
fn check<'i>(
    invocation: &'i Invocation,
    plan: &Plan,
    files: &ProtectedPaths,
) -> Result<Checked<'i>> {
    let view = &plan.capability;
    let method = match &invocation.method {
        Some(m) => {
            let m = m.trim().to_ascii_uppercase();
            if !view.methods.contains(&m) {
                return Err(Error::new(
                    ErrorKind::PolicyViolation,
                    format!(
                        "method {m} is not allowed for capability '{}' (allowed: {})",
                        view.id,
                        view.methods.join(", ")
                    ),
                ));
            }
            m
        }
        // Like curl: the only method, else GET without a body and POST with one.
        None => match view.methods.as_slice() {
            [only] => only.clone(),
            many if !has_body(invocation) && many.iter().any(|m| m == "GET") => "GET".into(),
            many if has_body(invocation) && many.iter().any(|m| m == "POST") => "POST".into(),
            many => {
                return Err(Error::invalid(format!(
                    "capability '{}' allows several methods ({}): pass --method",
                    view.id,
                    many.join(", ")
                )));
            }
        },
    };
    let raw_path = match &invocation.path {
        Some(p) => p.clone(),
        None => match view.paths.as_slice() {
            [only] if !only.ends_with('/') && !only.ends_with('.') => only.clone(),
            _ => {
                return Err(Error::invalid(format!(
                    "capability '{}' needs a path under {}: pass --path",
                    view.id,
                    view.paths.join(", ")
                )));
            }
        },
    };
    let target = path::normalize(&raw_path)?;
    if !view
        .paths
        .iter()
        .any(|prefix| path::prefix_admits(prefix, &target.path))
    {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "path {} is not allowed for capability '{}' (allowed prefixes: {})",
                target.path,
                view.id,
                view.paths.join(", ")
            ),
        ));
    }
    let owned_headers: Vec<String> = plan
        .auth
        .header_names()
        .into_iter()
        .map(str::to_ascii_lowercase)
        .collect();
    let caller_headers = headers::check_caller_headers(&invocation.headers, &owned_headers)?;
    params::check_caller_query(&target, &plan.auth.param_names())?;
    let wire_path = format!(
        "{}{}",
        view.upstream_prefix.as_deref().unwrap_or(""),
        target.path
    );
    let governing = Governing::of(
        &view.id,
        &plan.policy,
        &plan.host_policies,
        &method,
        &wire_path,
    );
    let body = invocation
        .body
        .prepare(governing.policy.max_request_body_bytes, files)?;
    let content_type = caller_headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.as_str());
    params::check_body_fields(&invocation.body, &body.bytes, content_type)?;
    if body.content_type.is_some() && caller_headers.iter().any(|(n, _)| n == "content-type") {
        return Err(Error::invalid(
            "a multipart body sets its own content-type: remove the content-type header",
        ));
    }
    Ok(Checked {
        method,
        target,
        headers: caller_headers,
        body,
        timeout: invocation.timeout.unwrap_or(DEFAULT_TIMEOUT),
        governing,
    })
}

/// The caller's method as the audit note of a refused call shows it: a method token, or `?`
/// (a raw string with spaces or line breaks could forge fields of the note).
fn audited_method(method: &str) -> String {
    let method = method.trim().to_ascii_uppercase();
    if !method.is_empty() && method.len() <= 16 && method.bytes().all(|b| b.is_ascii_uppercase()) {
        method
    } else {
        "?".into()
    }
}

/// Caller input as an audit note field: escaped, cut, and without spaces (a space could
/// forge another `key=value` field of the note).
fn audit_text(s: &str) -> String {
    printable(s).replace(' ', "%20")
}

fn has_body(invocation: &Invocation) -> bool {
    !matches!(invocation.body, super::request::RequestBody::Empty)
}

fn secret<'s>(secrets: &'s Secrets, role: &str) -> Result<&'s SecretValue> {
    secrets.get(role).ok_or_else(|| {
        Error::new(
            ErrorKind::CredentialNotFound,
            format!("the credential has no '{role}' secret"),
        )
    })
}

/// What `planned.url` shows where a secret goes on the wire (`/botREDACTED/getMe`,
/// `?api_key=REDACTED`): the caller learns the shape of the request, never the value.
const SHOWN_SECRET: &str = "REDACTED";

/// A path-auth template with every `{{role}}` placeholder shown as [`SHOWN_SECRET`].
fn redact_placeholders(template: &str) -> String {
    let mut shown = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        shown.push_str(&rest[..start]);
        shown.push_str(SHOWN_SECRET);
        rest = &rest[start + len + 2..];
    }
    shown.push_str(rest);
    shown
}

/// A request ready for the wire.
pub(crate) struct Outgoing<'c> {
    pub planned: Planned,
    pub method: String,
    pub url: Zeroizing<String>,
    pub headers: Vec<(String, Zeroizing<String>)>,
    /// Borrowed from the checked request: a retry (OAuth 401) sends the same bytes again
    /// without copying a large upload.
    pub body: &'c [u8],
    /// Values the broker computed from a secret for this request (the HMAC signature and its
    /// header value, the SigV4 signature and `Authorization` value): redacted like secrets.
    pub signed: Vec<Zeroizing<Vec<u8>>>,
}

/// Step 5: puts the injection, OAuth token and signatures on the request.
fn build<'c>(
    plan: &Plan,
    checked: &'c Checked<'_>,
    injection: &Injection,
    token: Option<&str>,
    unsealed: &Unsealed,
) -> Result<Outgoing<'c>> {
    let scheme = if plan.network.insecure_http {
        "http"
    } else {
        "https"
    };
    let host = plan.host.as_str();
    let prefix = injection
        .path_prefix
        .as_ref()
        .map(|p| p.as_str())
        .unwrap_or("");
    // The upstream's base path (`/backend-api/codex`), then the auth prefix, then the path
    // the caller gave (checked against the capability's prefixes).
    let base = plan.capability.upstream_prefix.as_deref().unwrap_or("");
    let wire_path = Zeroizing::new(format!("{base}{prefix}{}", checked.target.path));
    let extra: Vec<(String, String)> = injection
        .query
        .iter()
        .map(|(n, v)| (n.clone(), v.to_string()))
        .collect();
    let query = Zeroizing::new(checked.target.query_string(&extra));
    drop(extra);
    let url = Zeroizing::new(if query.is_empty() {
        format!("{scheme}://{host}{}", wire_path.as_str())
    } else {
        format!("{scheme}://{host}{}?{}", wire_path.as_str(), query.as_str())
    });
    let shown_prefix = match &plan.auth {
        AuthSpec::Path { prefix_template } => redact_placeholders(prefix_template),
        _ => String::new(),
    };
    let shown_query: Vec<(String, String)> = injection
        .query
        .iter()
        .map(|(name, _)| (name.clone(), SHOWN_SECRET.to_string()))
        .collect();
    let planned = Planned {
        capability: plan.capability.id.clone(),
        credential: plan.credential.clone(),
        method: checked.method.clone(),
        url: format!(
            "{scheme}://{host}{base}{shown_prefix}{}",
            checked.target.render(&shown_query)
        ),
    };
    // The broker must see the bytes it redacts: no compressed responses (without this
    // header, RFC 9110 lets a server pick any content coding).
    let mut headers: Vec<(String, Zeroizing<String>)> =
        vec![("accept-encoding".into(), Zeroizing::new("identity".into()))];
    headers.extend(
        checked
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), Zeroizing::new(v.clone()))),
    );
    if let Some(content_type) = &checked.body.content_type {
        headers.push(("content-type".into(), Zeroizing::new(content_type.clone())));
    }

    headers.extend(injection.headers.iter().cloned());
    if let Some(token) = token {
        headers.push((
            "authorization".into(),
            Zeroizing::new(format!("Bearer {token}")),
        ));
    }
    let mut signed = Vec::new();
    match &plan.auth {
        AuthSpec::AwsSigv4 { service, region } => {
            let plain: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.clone(), v.to_string()))
                .collect();
            let request = sigv4::SigV4Request {
                method: &checked.method,
                host,
                path: &wire_path,
                query: &query,
                headers: &plain,
                payload: &checked.body.bytes,
            };
            let session = unsealed
                .secrets
                .get("session_token")
                .map(|s| std::str::from_utf8(s.expose()))
                .transpose()
                .map_err(|_| Error::invalid("the AWS session_token secret is not text"))?;
            let key = sigv4::SigV4Key {
                access_key_id: std::str::from_utf8(
                    secret(&unsealed.secrets, "access_key_id")?.expose(),
                )
                .map_err(|_| Error::invalid("the AWS access_key_id secret is not text"))?,
                secret_access_key: secret(&unsealed.secrets, "secret_access_key")?.expose(),
                session_token: session,
            };
            let region = sigv4_region(host).unwrap_or(region.as_str());
            for (name, value) in sigv4::sign(&request, &key, region, service, unix_now()) {
                let value = Zeroizing::new(value);
                if name == "authorization" {
                    if let Some((_, signature)) = value.rsplit_once("Signature=") {
                        signed.push(Zeroizing::new(signature.as_bytes().to_vec()));
                    }
                    signed.push(Zeroizing::new(value.as_bytes().to_vec()));
                }
                headers.push((name, value));
            }
        }
        AuthSpec::Hmac {
            header_name,
            value_template,
            timestamp_header,
        } => {
            let timestamp = unix_now();
            let canonical = hmac_sign::canonical_string(
                timestamp,
                &checked.method,
                &wire_path,
                &query,
                &checked.body.bytes,
            );
            let signature =
                hmac_sign::signature(secret(&unsealed.secrets, "secret")?.expose(), &canonical);
            let signature = Zeroizing::new(signature);
            let value = Zeroizing::new(value_template.replace("{{signature}}", &signature));
            signed.push(Zeroizing::new(signature.as_bytes().to_vec()));
            signed.push(Zeroizing::new(value.as_bytes().to_vec()));
            headers.push((header_name.to_ascii_lowercase(), value));
            if let Some(ts) = timestamp_header {
                headers.push((
                    ts.to_ascii_lowercase(),
                    Zeroizing::new(timestamp.to_string()),
                ));
            }
        }
        _ => {}
    }
    Ok(Outgoing {
        planned,
        method: checked.method.clone(),
        url,
        headers,
        body: &checked.body.bytes,
        signed,
    })
}

/// The region in an AWS regional host name (`bedrock-runtime.eu-west-1.amazonaws.com`), so a
/// credential listing several regional hosts signs for the one it calls.
fn sigv4_region(host: &str) -> Option<&str> {
    let rest = host.strip_suffix(".amazonaws.com")?;
    let region = rest.rsplit('.').next()?;
    let looks_like_region = region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    looks_like_region.then_some(region)
}

fn unix_now() -> i64 {
    crate::vault::now_ms() / 1000
}

/// Steps 6–7: send through the guarded agent, with the call's timeout.
fn send(
    agent: &ureq::Agent,
    outgoing: Outgoing<'_>,
    host: &str,
    timeout: Duration,
) -> Result<ureq::http::Response<ureq::Body>> {
    let mut builder = ureq::http::Request::builder()
        .method(outgoing.method.as_str())
        .uri(outgoing.url.as_str());
    for (name, value) in &outgoing.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(outgoing.body).map_err(|_| {
        Error::invalid("the request could not be built (a header name or value is not valid HTTP)")
    })?;
    let request = agent
        .configure_request(request)
        .timeout_global(Some(timeout))
        .build();
    agent
        .run(request)
        .map_err(|e| transport::upstream_error(e, host, timeout))
}

/// Refuses a response body in a content or transfer coding the broker did not ask for (it
/// sends `accept-encoding: identity`): compressed bytes cannot be redacted, and the caller
/// could decompress a secret out of them. The broker does not decompress (no decoder is in
/// its dependency tree, and a decoder is one more thing to cap against bombs); a compliant
/// server never sends one. A response without a body (HEAD, 204, 304) is let through.
fn refuse_encoded_body(
    response: &ureq::http::Response<ureq::Body>,
    method: &str,
    host: &str,
) -> Result<()> {
    if method == "HEAD" || matches!(response.status().as_u16(), 204 | 304) {
        return Ok(());
    }
    for (header, allowed) in [
        ("content-encoding", &["identity"][..]),
        ("transfer-encoding", &["identity", "chunked"][..]),
    ] {
        for value in response.headers().get_all(header) {
            let value = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
            for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if !allowed.contains(&coding) {
                    // Only a known coding is named: the value is the upstream's text.
                    let known = ["gzip", "x-gzip", "deflate", "br", "compress", "zstd"];
                    let shown = known.iter().find(|k| **k == coding).unwrap_or(&"(other)");
                    return Err(Error::new(
                        ErrorKind::UpstreamError,
                        format!(
                            "{host} answered with {header} '{shown}', but the broker asked for \
                             an unencoded body (accept-encoding: identity); an encoded body \
                             cannot be redacted, so it is refused"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether a response header *name* holds an injected value (an upstream that reflects it as
/// `x-<secret>: 1`): such a header is dropped, since names are not redacted. Names arrive
/// lower-cased, so the raw values are also compared lower-cased.
fn name_reveals(name: &str, redactor: &Redactor, injected: &[Zeroizing<Vec<u8>>]) -> bool {
    if redactor.redact_str(name) != name {
        return true;
    }
    injected.iter().any(|value| {
        let lower = Zeroizing::new(value.to_ascii_lowercase());
        lower.len() >= super::redact::MIN_SECRET_LEN
            && name
                .as_bytes()
                .windows(lower.len())
                .any(|w| w == lower.as_slice())
    })
}

/// Errors pass through the redactor too: nothing the broker injected leaves in a message.
fn scrub(err: Error, redactor: &Redactor) -> Error {
    let message = redactor.redact_str(err.message());
    Error::new(err.kind(), message)
}

#[cfg(test)]
mod planned_url_tests {
    use super::redact_placeholders;

    #[test]
    fn placeholders_are_shown_as_redacted() {
        assert_eq!(redact_placeholders("/bot{{secret}}"), "/botREDACTED");
        assert_eq!(
            redact_placeholders("/v1/{{account}}/k/{{secret}}"),
            "/v1/REDACTED/k/REDACTED"
        );
        assert_eq!(redact_placeholders("/plain"), "/plain");
        // An unclosed brace is left as written (templates are validated at create).
        assert_eq!(redact_placeholders("/a{{b"), "/a{{b");
    }
}
