//! Caller tokens: created once and stored hashed; authenticate refuses missing, forged,
//! expired and revoked tokens; authorize keeps a call inside the token's capabilities and
//! context (filling the context in, refusing to widen it); every refusal is audited; an edit
//! of a token row in vault.db is detected, never followed.

mod common;

use std::time::Duration;

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{Config, ErrorKind, Invocation, NewToken, TokenGrant, Vault};
use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{TestDir, all_events, assert_files_clean, canary, create, expect_err};

fn token(vault: &Vault, name: &str, capabilities: &[&str]) -> String {
    let created = vault
        .create_token(NewToken {
            name: name.into(),
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            ..NewToken::default()
        })
        .expect("create token");
    String::from_utf8(created.token.expose().to_vec()).expect("utf8")
}

fn call(capability: &str) -> Invocation {
    Invocation {
        capability: capability.into(),
        ..Invocation::default()
    }
}

fn refused_events(vault: &Vault) -> Vec<String> {
    all_events(vault)
        .into_iter()
        .filter(|e| e.kind == "token.refused")
        .map(|e| e.note.unwrap_or_default())
        .collect()
}

#[test]
fn a_token_is_shown_once_and_only_its_hash_is_kept() {
    let t = TestDir::new();
    let vault = t.open();
    let text = token(&vault, "agent", &["openai/*"]);
    assert!(text.starts_with("avt_") && text.len() == 47, "{text}");
    let listed = vault.list_tokens().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "agent");
    assert_eq!(listed[0].state, "active");
    let json = serde_json::to_string(&listed).expect("json");
    assert!(!json.contains(&text) && !json.contains("hash"), "{json}");
    assert_files_clean(&t.dir, &[text.as_bytes()]);
    let events = serde_json::to_string(&all_events(&vault)).expect("json");
    assert!(!events.contains(&text));
    // The name is unique; a second token with it is refused.
    let err = expect_err(
        vault.create_token(NewToken {
            name: "agent".into(),
            capabilities: vec!["openai/models".into()],
            ..NewToken::default()
        }),
        "duplicate name",
    );
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
}

#[test]
fn bad_token_requests_are_refused_before_anything_is_stored() {
    let t = TestDir::new();
    let vault = t.open();
    let cases: [(NewToken, ErrorKind); 6] = [
        (
            NewToken {
                name: "x".into(),
                ..NewToken::default()
            },
            ErrorKind::InvalidInput,
        ),
        (
            NewToken {
                name: "tok_1".into(),
                capabilities: vec!["openai/*".into()],
                ..NewToken::default()
            },
            ErrorKind::InvalidInput,
        ),
        (
            NewToken {
                name: "a b".into(),
                capabilities: vec!["openai/*".into()],
                ..NewToken::default()
            },
            ErrorKind::InvalidInput,
        ),
        (
            NewToken {
                name: "x".into(),
                capabilities: vec!["Open AI".into()],
                ..NewToken::default()
            },
            ErrorKind::InvalidInput,
        ),
        (
            NewToken {
                name: "x".into(),
                capabilities: vec!["acme/nothing".into()],
                ..NewToken::default()
            },
            ErrorKind::CapabilityNotFound,
        ),
        (
            NewToken {
                name: "x".into(),
                capabilities: vec!["openai/*".into()],
                group_id: Some("g".into()),
                ..NewToken::default()
            },
            ErrorKind::InvalidInput,
        ),
    ];
    for (new, kind) in cases {
        let err = expect_err(vault.create_token(new.clone()), "bad token");
        assert_eq!(err.kind(), kind, "{new:?}: {err}");
    }
    assert!(vault.list_tokens().expect("list").is_empty());
}

#[test]
fn authenticate_refuses_missing_forged_expired_and_revoked_tokens() {
    let t = TestDir::new();
    let vault = t.open();
    let good = token(&vault, "agent", &["openai/models"]);
    let grant = vault.authenticate(&good).expect("a fresh token works");
    assert_eq!(grant.name, "agent");

    // Forged: the right shape, a different value; and garbage of every kind.
    let mut forged = good.clone();
    forged.replace_range(10..11, if &good[10..11] == "A" { "B" } else { "A" });
    for bad in [
        String::new(),
        forged,
        "avt_short".into(),
        format!("Bearer {good}"),
        good.to_uppercase(),
    ] {
        let err = expect_err(vault.authenticate(&bad), "bad token");
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{bad}");
        assert!(!err.message().contains(&good));
    }

    // Expired: a one-second token, after two seconds.
    let short = vault
        .create_token(NewToken {
            name: "short".into(),
            capabilities: vec!["openai/models".into()],
            ttl: Some(Duration::from_secs(1)),
            ..NewToken::default()
        })
        .expect("create");
    let short = String::from_utf8(short.token.expose().to_vec()).expect("utf8");
    vault.authenticate(&short).expect("not expired yet");
    std::thread::sleep(Duration::from_millis(1100));
    let err = expect_err(vault.authenticate(&short), "expired");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.message().contains("expired"), "{err}");

    // Revoked, by name, in another handle: this one refuses it at the next call.
    t.open().revoke_token("agent").expect("revoke");
    let err = expect_err(vault.authenticate(&good), "revoked");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.message().contains("revoked"), "{err}");
    let listed = vault.list_tokens().expect("list");
    let states: Vec<_> = listed.iter().map(|t| (t.name.as_str(), t.state)).collect();
    assert_eq!(states, [("agent", "revoked"), ("short", "expired")]);
    assert_eq!(
        expect_err(vault.revoke_token("nobody"), "unknown").kind(),
        ErrorKind::NotFound
    );

    // Every refusal is in the audit log, naming the token when known, never its text.
    let refused = refused_events(&vault);
    assert_eq!(refused.len(), 7, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|n| n.contains("token=agent") && n.contains("revoked"))
    );
    assert!(
        refused
            .iter()
            .any(|n| n.contains("token=short") && n.contains("expired"))
    );
    assert!(
        refused
            .iter()
            .all(|n| !n.contains(&good) && !n.contains(&short))
    );
}

#[test]
fn authorize_keeps_a_call_inside_the_tokens_capabilities_and_context() {
    let t = TestDir::new();
    let vault = t.open();
    let created = vault
        .create_token(NewToken {
            name: "team".into(),
            capabilities: vec!["openai/*".into()],
            workspace_id: Some("acme".into()),
            group_id: Some("ops".into()),
            consumer: Some("bot".into()),
            ..NewToken::default()
        })
        .expect("create");
    let text = String::from_utf8(created.token.expose().to_vec()).expect("utf8");
    let grant: TokenGrant = vault.authenticate(&text).expect("auth");

    // Unset context is filled in with the token's; the same context is accepted.
    let fitted = vault
        .authorize(&grant, call("openai/models"))
        .expect("fits");
    assert_eq!(fitted.workspace_id.as_deref(), Some("acme"));
    assert_eq!(fitted.group_id.as_deref(), Some("ops"));
    assert_eq!(fitted.consumer.as_deref(), Some("bot"));
    let same = Invocation {
        workspace_id: Some("acme".into()),
        group_id: Some("ops".into()),
        ..call("openai/chat-completions")
    };
    vault.authorize(&grant, same).expect("same context");

    // Outside the token: another capability, another workspace, group or consumer.
    let outside = [
        call("anthropic/messages"),
        Invocation {
            workspace_id: Some("other".into()),
            ..call("openai/models")
        },
        Invocation {
            group_id: Some("admins".into()),
            ..call("openai/models")
        },
        Invocation {
            consumer: Some("root".into()),
            ..call("openai/models")
        },
    ];
    for invocation in outside {
        let err = expect_err(vault.authorize(&grant, invocation), "outside");
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    }
    assert_eq!(refused_events(&vault).len(), 4);

    // A global token may not pick a workspace either.
    let global = token(&vault, "global", &["openai/models"]);
    let grant = vault.authenticate(&global).expect("auth");
    let err = expect_err(
        vault.authorize(
            &grant,
            Invocation {
                workspace_id: Some("acme".into()),
                ..call("openai/models")
            },
        ),
        "widen",
    );
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
}

/// End to end in one process: a token-authorized call reaches the upstream with the vault's
/// key; a call outside it sends nothing.
#[test]
fn an_authorized_call_carries_the_key_and_a_refused_one_sends_nothing() {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let t = TestDir::new();
    let vault = Vault::open(Config {
        dev_routes: DevRoutes::parse(&format!("api.openai.com=127.0.0.1:{}", upstream.port()))
            .expect("routes"),
        dev_ca_cert: Some(pki.ca_pem.clone()),
        ..t.config()
    })
    .expect("vault");
    let key = canary();
    create(&vault, "OPENAI_API_KEY", &key);
    let text = token(&vault, "agent", &["openai/models"]);
    let grant = vault.authenticate(&text).expect("auth");
    let refused = vault.authorize(&grant, call("openai/chat-completions"));
    assert_eq!(
        expect_err(refused, "outside").kind(),
        ErrorKind::Unauthorized
    );
    assert_eq!(upstream.connections(), 0);
    let invocation = vault
        .authorize(&grant, call("openai/models"))
        .expect("fits");
    let response = vault.invoke(&invocation).expect("invoke");
    assert_eq!(response.status, 200);
    assert_eq!(
        upstream.requests()[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
}

/// The local attacker edits a token row: widening its grant, lifting its revocation, or
/// swapping in the hash of a token they know. Each is detected (`integrity_failed`), never
/// followed.
#[test]
fn edited_token_rows_are_detected() {
    let edits: [(&str, &str); 3] = [
        (
            "widen",
            "UPDATE tokens SET record = json_set(record, '$.capabilities', json_array('*'))",
        ),
        (
            "unrevoke",
            "UPDATE tokens SET record = json_set(record, '$.revokedAtMs', NULL)",
        ),
        (
            "swap hash",
            "UPDATE tokens SET hash = ?1, record = json_set(record, '$.hash', ?1)",
        ),
    ];
    for (what, sql) in edits {
        let t = TestDir::new();
        let vault = t.open();
        let victim = token(&vault, "victim", &["openai/models"]);
        vault.revoke_token("victim").expect("revoke");
        // A token the attacker created (in another vault) and whose hash they know.
        let other = TestDir::new();
        let known = token(&other.open(), "mine", &["openai/models"]);
        let known_hash: String = other
            .db()
            .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
            .expect("hash");
        let db = t.db();
        if sql.contains("?1") {
            db.execute(sql, [&known_hash]).expect(what);
        } else {
            db.execute(sql, []).expect(what);
        }
        drop(db);
        let vault = t.open();
        for text in [&victim, &known] {
            match vault.authenticate(text) {
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::IntegrityFailed | ErrorKind::Unauthorized
                    ),
                    "{what}: {e}"
                ),
                Ok(_) => panic!("{what}: an edited token row was followed"),
            }
        }
        let err = expect_err(vault.list_tokens(), what);
        assert_eq!(err.kind(), ErrorKind::IntegrityFailed, "{what}: {err}");
    }
}
