//! Multi-field secrets through the real binary: one secret holding a JSON object of a
//! credential's roles (as the original tool stores them) backs a `basic` credential created
//! with a single `--secret-ref`, against a loopback upstream that records what it received;
//! a malformed one fails only its own credential's calls, naming the field, never the value.

mod common;

use aivault_testkit::{Upstream, echo_handler};
use base64::Engine;
use common::{Env, canary, canary_forms, contains, files_under};

/// Creates a custom `basic` credential of provider `acme` for the loopback upstream, with one
/// capability `acme/<id>` on `/v1`.
fn basic_credential(env: &Env, id: &str, secret_id: &str, upstream: &Upstream) {
    let host = format!("localhost:{}", upstream.port());
    env.run(&[
        "credential",
        "create",
        id,
        "--provider",
        "acme",
        "--auth",
        "basic",
        "--secret-ref",
        &format!("vault:secret:{secret_id}"),
        "--host",
        &host,
        "--allow-private-network",
        "--insecure-http",
    ])
    .ok();
    env.run(&[
        "capability",
        "create",
        &format!("acme/{id}"),
        "--credential",
        id,
        "--method",
        "GET",
        "--path",
        "/v1",
    ])
    .ok();
}

#[test]
fn one_json_secret_backs_a_basic_credential() {
    let env = Env::new();
    let upstream = Upstream::http(echo_handler());
    let user = canary("user");
    let password = canary("password");
    let good = env.create(
        "ACME_LOGIN",
        &format!(r#"{{"username":"{user}","password":"{password}"}}"#),
        &[],
    );
    let broken_password = canary("broken");
    let broken = env.create(
        "ACME_BROKEN",
        &format!(r#"{{"user":"x","password":"{broken_password}"}}"#),
        &[],
    );
    basic_credential(&env, "good", &good, &upstream);
    basic_credential(&env, "broken", &broken, &upstream);

    let run = env.run(&["invoke", "acme/good", "--path", "/v1/me"]).ok();
    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    assert_eq!(received[0].header("authorization"), Some(expected.as_str()));
    assert!(run.stdout.contains("[REDACTED]"), "{}", run.stdout);

    // The malformed one fails alone, naming the missing field; nothing is sent.
    let failed = env
        .run(&["invoke", "acme/broken", "--path", "/v1/me"])
        .fails(2, "invalid_input");
    assert!(failed.stderr.contains("username"), "{}", failed.stderr);
    assert_eq!(upstream.requests().len(), 1);
    env.run(&["invoke", "acme/good", "--path", "/v1/me"]).ok();
    assert_eq!(upstream.requests().len(), 2);

    let audit = env.run(&["audit", "--limit", "1000"]).ok();
    let files = files_under(env.root.path());
    for value in [&user, &password, &broken_password] {
        for form in canary_forms(value) {
            for text in [&run.stdout, &run.stderr, &failed.stderr, &audit.stdout] {
                assert!(!contains(text.as_bytes(), &form), "leaked in output");
            }
            for (path, bytes) in &files {
                assert!(!contains(bytes, &form), "{} leaks", path.display());
            }
        }
    }
}
