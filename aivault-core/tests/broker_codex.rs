//! Codex sign-in end to end: the `openai/codex-*` capabilities with the Codex CLI's
//! `auth.json` stored as `CODEX_OAUTH_JSON`. chatgpt.com and auth.openai.com are routed to
//! one loopback HTTPS upstream (`Config.dev_routes`), which issues tokens at
//! `POST /oauth/token` and records every request: the refresh form (public client id, no
//! client secret), the upstream paths under `/backend-api`, the `chatgpt-account-id` header,
//! and that no token or account id comes back to the caller or reaches the audit log.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{
    Config, Error, ErrorKind, Invocation, InvokeResponse, RequestBody, SecretMeta, Vault,
};
use aivault_testkit::{Pki, Recorded, Reply, Upstream};
use base64::Engine as _;
use common::{TestDir, all_events, assert_audit_clean, assert_audit_ok, canary, create};

const HOSTS: [&str; 2] = ["chatgpt.com", "auth.openai.com"];
const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An unsigned JWT whose payload holds `exp` and a marker (so each token is distinct).
fn jwt(exp: i64, marker: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&format!(r#"{{"exp":{exp},"jti":"{marker}"}}"#)),
        b64("signature")
    )
}

/// The Codex CLI's `auth.json`, tokens nested.
fn nested_auth(access: &str, refresh: &str, id_token: &str, account: &str) -> String {
    format!(
        r#"{{"OPENAI_API_KEY":null,"tokens":{{"id_token":"{id_token}","access_token":"{access}","refresh_token":"{refresh}","account_id":"{account}"}},"last_refresh":"2025-06-01T00:00:00Z"}}"#
    )
}

/// The loopback ChatGPT: `POST /oauth/token` issues JWT access tokens valid for an hour
/// (`rt-new-N`, `idt-new-N` beside them); every other request is answered with the
/// authorization and account headers it carried, echoed, so redaction is exercised.
struct ChatGpt {
    t: TestDir,
    upstream: Upstream,
    pki: Pki,
    /// The access tokens issued, in order.
    issued: Arc<std::sync::Mutex<Vec<String>>>,
}

impl ChatGpt {
    fn new() -> ChatGpt {
        let pki = Pki::new(&HOSTS);
        let count = Arc::new(AtomicUsize::new(0));
        let issued = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, i) = (count.clone(), issued.clone());
        let upstream = Upstream::https(&pki, move |req: &Recorded| {
            if req.target == "/oauth/token" {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                let token = jwt(now_secs() + 3600, &format!("issued-{n}-{}", canary()));
                i.lock().unwrap().push(token.clone());
                return Reply::json(format!(
                    r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-new-{n}","id_token":"idt-new-{n}"}}"#
                ));
            }
            Reply::json(format!(
                r#"{{"path":"{}","auth":"{}","account":"{}"}}"#,
                req.target,
                req.header("authorization").unwrap_or(""),
                req.header("chatgpt-account-id").unwrap_or("")
            ))
        });
        ChatGpt {
            t: TestDir::new(),
            upstream,
            pki,
            issued,
        }
    }

    fn config(&self) -> Config {
        let spec = HOSTS
            .iter()
            .map(|h| format!("{h}=127.0.0.1:{}", self.upstream.port()))
            .collect::<Vec<_>>()
            .join(",");
        Config {
            dev_routes: DevRoutes::parse(&spec).unwrap(),
            dev_ca_cert: Some(self.pki.ca_pem.clone()),
            ..self.t.config()
        }
    }

    /// Opens the vault and stores `auth_json` as CODEX_OAUTH_JSON (which provisions the
    /// registry's `codex` credential).
    fn vault(&self, auth_json: &str) -> (Vault, SecretMeta) {
        let vault = Vault::open(self.config()).unwrap();
        let outcome = create(&vault, "CODEX_OAUTH_JSON", auth_json);
        (vault, outcome.secret)
    }

    fn token_requests(&self) -> Vec<Recorded> {
        self.upstream
            .requests()
            .into_iter()
            .filter(|r| r.target == "/oauth/token")
            .collect()
    }

    fn api_requests(&self) -> Vec<Recorded> {
        self.upstream
            .requests()
            .into_iter()
            .filter(|r| r.target != "/oauth/token")
            .collect()
    }

    fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}

fn responses_call() -> Invocation {
    Invocation {
        capability: "openai/codex-responses".into(),
        method: Some("POST".into()),
        path: Some("/responses".into()),
        headers: vec![("content-type".into(), "application/json".into())],
        body: RequestBody::Bytes(br#"{"model":"gpt-5-codex","input":"hi"}"#.to_vec()),
        ..Default::default()
    }
}

fn usage_call() -> Invocation {
    Invocation {
        capability: "openai/codex-usage".into(),
        method: Some("GET".into()),
        path: Some("/wham/usage".into()),
        ..Default::default()
    }
}

fn realtime_call() -> Invocation {
    Invocation {
        capability: "openai/codex-realtime".into(),
        method: Some("POST".into()),
        path: Some("/realtime/calls".into()),
        body: RequestBody::Bytes(b"v=0".to_vec()),
        ..Default::default()
    }
}

fn invoke(vault: &Vault, invocation: &Invocation) -> InvokeResponse {
    vault
        .invoke(invocation)
        .unwrap_or_else(|e| panic!("{}: {} ({})", invocation.capability, e.message(), e.kind()))
}

fn invoke_err(vault: &Vault, invocation: &Invocation) -> Error {
    match vault.invoke(invocation) {
        Ok(r) => panic!(
            "{}: expected an error, got {}",
            invocation.capability, r.status
        ),
        Err(e) => e,
    }
}

/// None of `needles` in the body, headers or planned request of `response`.
fn assert_response_clean(response: &InvokeResponse, needles: &[&str]) {
    let body = String::from_utf8_lossy(&response.body);
    let planned = format!("{:?}", response.planned);
    for needle in needles {
        assert!(!body.contains(needle), "the body leaks {needle}: {body}");
        assert!(!planned.contains(needle), "planned leaks {needle}");
        for (name, value) in &response.headers {
            assert!(!value.contains(needle), "header {name} leaks {needle}");
        }
    }
}

fn assert_audit(vault: &Vault, needles: &[&str]) {
    for needle in needles {
        assert_audit_clean(vault, needle);
    }
    assert_audit_ok(vault);
}

/// An expired access token (JWT `exp` in the past, no `expires_at`) is refreshed at
/// auth.openai.com with the Codex public client id in the form and no client secret or
/// Authorization header; the new token and the `chatgpt-account-id` header from the nested
/// `tokens.account_id` go to `/backend-api/codex/responses`. The next calls of all three
/// capabilities reuse it, each on its own upstream path. Nothing secret comes back or reaches
/// the audit log.
#[test]
fn expired_codex_token_is_refreshed_with_the_public_client_and_sent_with_the_account() {
    let chatgpt = ChatGpt::new();
    let refresh = canary();
    let account = canary();
    let id_token = canary();
    let expired = jwt(now_secs() - 60, &canary());
    let (vault, meta) = chatgpt.vault(&nested_auth(&expired, &refresh, &id_token, &account));

    let response = invoke(&vault, &responses_call());
    assert_eq!(response.status, 200);
    assert_eq!(
        response.planned.url,
        "https://chatgpt.com/backend-api/codex/responses"
    );
    let tokens = chatgpt.token_requests();
    assert_eq!(tokens.len(), 1, "one refresh");
    let token_request = &tokens[0];
    assert_eq!(token_request.method, "POST");
    assert_eq!(token_request.header("host"), Some("auth.openai.com"));
    assert_eq!(
        token_request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        token_request.header("authorization"),
        None,
        "no client secret"
    );
    assert_eq!(
        token_request.body_text(),
        format!("grant_type=refresh_token&refresh_token={refresh}&client_id={CLIENT_ID}")
    );
    assert!(!token_request.body_text().contains("client_secret"));

    let new_token = chatgpt.issued()[0].clone();
    let api = chatgpt.api_requests();
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].method, "POST");
    assert_eq!(api[0].target, "/backend-api/codex/responses");
    assert_eq!(api[0].header("host"), Some("chatgpt.com"));
    assert_eq!(
        api[0].header("authorization"),
        Some(format!("Bearer {new_token}").as_str())
    );
    assert_eq!(api[0].header("chatgpt-account-id"), Some(account.as_str()));
    assert_eq!(api[0].header_all("chatgpt-account-id").len(), 1);
    assert_eq!(
        api[0].body_text(),
        r#"{"model":"gpt-5-codex","input":"hi"}"#
    );
    let body = String::from_utf8_lossy(&response.body).to_string();
    assert!(
        body.contains(r#""path":"/backend-api/codex/responses""#),
        "{body}"
    );

    let needles = [
        refresh.as_str(),
        account.as_str(),
        id_token.as_str(),
        expired.as_str(),
        new_token.as_str(),
        "rt-new-1",
        "idt-new-1",
    ];
    assert_response_clean(&response, &needles);

    // The other two capabilities, each on its own upstream path, with the same token.
    let usage = invoke(&vault, &usage_call());
    assert_eq!(usage.status, 200);
    assert_eq!(
        usage.planned.url,
        "https://chatgpt.com/backend-api/wham/usage"
    );
    let realtime = invoke(&vault, &realtime_call());
    assert_eq!(realtime.status, 200);
    assert_eq!(
        realtime.planned.url,
        "https://chatgpt.com/backend-api/codex/realtime/calls"
    );
    assert_eq!(
        chatgpt.token_requests().len(),
        1,
        "the new token was reused"
    );
    let api = chatgpt.api_requests();
    let targets: Vec<&str> = api.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/backend-api/codex/responses",
            "/backend-api/wham/usage",
            "/backend-api/codex/realtime/calls"
        ]
    );
    for request in &api {
        assert_eq!(request.header("chatgpt-account-id"), Some(account.as_str()));
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {new_token}").as_str())
        );
    }
    assert_response_clean(&usage, &needles);
    assert_response_clean(&realtime, &needles);
    assert_audit(&vault, &needles);
    let refreshes: Vec<_> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "secret.oauth_refresh")
        .collect();
    assert_eq!(refreshes.len(), 1);
    assert_eq!(
        refreshes[0].secret_id.as_deref(),
        Some(meta.secret_id.as_str())
    );
    let invokes: Vec<String> = all_events(&vault)
        .into_iter()
        .filter(|e| e.kind == "capability.invoke")
        .filter_map(|e| e.note)
        .collect();
    assert!(
        invokes
            .iter()
            .any(|n| n.contains("host=chatgpt.com path=/responses status=200")),
        "{invokes:?}"
    );
}

/// The refreshed tokens are written back into the nested `tokens` object: a reopened vault
/// uses the new access token without refreshing, still finds `tokens.account_id`, and when
/// that token expires in turn, refreshes with the rotated refresh token (`rt-new-1`).
#[test]
fn refreshed_codex_tokens_are_written_back_in_the_nested_shape() {
    let chatgpt = ChatGpt::new();
    let refresh = canary();
    let account = canary();
    let expired = jwt(now_secs() - 60, &canary());
    let (vault, meta) = chatgpt.vault(&nested_auth(&expired, &refresh, "idt-0", &account));
    assert_eq!(invoke(&vault, &usage_call()).status, 200);
    assert_eq!(vault.get_secret(&meta.secret_id).unwrap().value_version, 2);
    drop(vault);

    let vault = Vault::open(chatgpt.config()).unwrap();
    assert_eq!(invoke(&vault, &usage_call()).status, 200);
    assert_eq!(
        chatgpt.token_requests().len(),
        1,
        "the stored token was used"
    );
    let api = chatgpt.api_requests();
    let new_token = chatgpt.issued()[0].clone();
    assert_eq!(
        api[1].header("authorization"),
        Some(format!("Bearer {new_token}").as_str())
    );
    assert_eq!(api[1].header("chatgpt-account-id"), Some(account.as_str()));

    // Expire the written-back token: an upstream 401 forces a refresh, which must send the
    // rotated refresh token from the stored (nested) secret.
    let rejecting = Upstream::https(&chatgpt.pki, |req: &Recorded| {
        if req.target == "/oauth/token" {
            return Reply::json(
                r#"{"access_token":"opaque-after-401","expires_in":60,"refresh_token":"rt-new-2"}"#,
            );
        }
        if req.header("authorization") == Some("Bearer opaque-after-401") {
            Reply::json("{}")
        } else {
            Reply::status(401)
        }
    });
    drop(vault);
    let spec = HOSTS
        .iter()
        .map(|h| format!("{h}=127.0.0.1:{}", rejecting.port()))
        .collect::<Vec<_>>()
        .join(",");
    let vault = Vault::open(Config {
        dev_routes: DevRoutes::parse(&spec).unwrap(),
        ..chatgpt.config()
    })
    .unwrap();
    let response = invoke(&vault, &usage_call());
    assert_eq!(response.status, 200);
    let token_requests: Vec<Recorded> = rejecting
        .requests()
        .into_iter()
        .filter(|r| r.target == "/oauth/token")
        .collect();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(
        token_requests[0].body_text(),
        format!("grant_type=refresh_token&refresh_token=rt-new-1&client_id={CLIENT_ID}")
    );
    let last = rejecting.requests().into_iter().last().unwrap();
    assert_eq!(last.target, "/backend-api/wham/usage");
    assert_eq!(last.header("chatgpt-account-id"), Some(account.as_str()));
    assert_audit(&vault, &[&refresh, &account, &new_token]);
}

/// A token whose JWT `exp` is in the future is used as it is: no token request. The flat
/// form (`access_token`, `refresh_token`, `account_id` at the top) works too, and an explicit
/// `expires_at` wins over the JWT.
#[test]
fn a_fresh_codex_token_is_used_without_refresh_flat_form_too() {
    let chatgpt = ChatGpt::new();
    let account = canary();
    let fresh = jwt(now_secs() + 3600, &canary());
    let refresh = canary();
    let (vault, meta) = chatgpt.vault(&nested_auth(&fresh, &refresh, "idt", &account));
    let response = invoke(&vault, &responses_call());
    assert_eq!(response.status, 200);
    assert!(chatgpt.token_requests().is_empty(), "no refresh");
    let api = chatgpt.api_requests();
    assert_eq!(
        api[0].header("authorization"),
        Some(format!("Bearer {fresh}").as_str())
    );
    assert_eq!(api[0].header("chatgpt-account-id"), Some(account.as_str()));
    assert_response_clean(&response, &[&fresh, &account, &refresh]);
    assert_eq!(vault.get_secret(&meta.secret_id).unwrap().value_version, 1);

    // Flat form, fresh by its JWT.
    let flat = format!(
        r#"{{"access_token":"{fresh}","refresh_token":"{refresh}","account_id":"{account}"}}"#
    );
    vault
        .rotate_secret(&meta.secret_id, flat.as_str().into())
        .unwrap();
    assert_eq!(invoke(&vault, &usage_call()).status, 200);
    assert!(chatgpt.token_requests().is_empty(), "no refresh (flat)");
    // Flat form with an expires_at in the past: refreshed although the JWT is still valid.
    let past = now_secs() - 10;
    let flat = format!(
        r#"{{"access_token":"{fresh}","refresh_token":"{refresh}","account_id":"{account}","expires_at":{past}}}"#
    );
    vault
        .rotate_secret(&meta.secret_id, flat.as_str().into())
        .unwrap();
    assert_eq!(invoke(&vault, &usage_call()).status, 200);
    let tokens = chatgpt.token_requests();
    assert_eq!(tokens.len(), 1, "expires_at wins over the JWT");
    assert_eq!(
        tokens[0].body_text(),
        format!("grant_type=refresh_token&refresh_token={refresh}&client_id={CLIENT_ID}")
    );
    assert_audit(&vault, &[&fresh, &account, &refresh]);
}

/// The broker owns `chatgpt-account-id`: a caller sending it is refused and nothing is sent.
/// A secret without `account_id` fails with `invalid_input` naming the field, never a value,
/// and nothing is sent either.
#[test]
fn the_account_header_is_owned_and_required() {
    let chatgpt = ChatGpt::new();
    let account = canary();
    let refresh = canary();
    let fresh = jwt(now_secs() + 3600, &canary());
    let (vault, meta) = chatgpt.vault(&nested_auth(&fresh, &refresh, "idt", &account));
    let mut call = usage_call();
    call.headers = vec![("ChatGPT-Account-Id".into(), "someone-else".into())];
    let err = invoke_err(&vault, &call);
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{}", err.message());
    assert!(chatgpt.upstream.requests().is_empty());

    let without =
        format!(r#"{{"tokens":{{"access_token":"{fresh}","refresh_token":"{refresh}"}}}}"#);
    vault
        .rotate_secret(&meta.secret_id, without.as_str().into())
        .unwrap();
    let err = invoke_err(&vault, &usage_call());
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message().contains("\"tokens.account_id\""),
        "{}",
        err.message()
    );
    for needle in [&fresh, &refresh] {
        assert!(!err.message().contains(needle.as_str()));
        assert!(!format!("{err:?}").contains(needle.as_str()));
    }
    assert!(chatgpt.upstream.requests().is_empty());
    assert_audit(&vault, &[&fresh, &refresh, &account]);
}

/// The API key alternative is not involved: with only CODEX_OAUTH_JSON stored, the
/// api.openai.com capabilities have no credential, and describing a codex capability shows
/// its upstream base path.
#[test]
fn codex_capabilities_describe_their_upstream_prefix() {
    let chatgpt = ChatGpt::new();
    let fresh = jwt(now_secs() + 3600, "x");
    let (vault, _) = chatgpt.vault(&nested_auth(&fresh, "r", "i", "acct-1"));
    let described = vault.describe_capability("openai/codex-responses").unwrap();
    assert!(described.ready);
    let json = serde_json::to_value(&described).unwrap();
    assert_eq!(json["allowed"]["upstreamPrefix"], "/backend-api/codex");
    assert_eq!(json["allowed"]["pathPrefixes"][0], "/responses");
    let err = invoke_err(
        &vault,
        &Invocation {
            capability: "openai/models".into(),
            method: Some("GET".into()),
            path: Some("/v1/models".into()),
            ..Default::default()
        },
    );
    assert_eq!(err.kind(), ErrorKind::CredentialNotFound);
    assert!(chatgpt.upstream.requests().is_empty());
}
