//! The `--request` envelope's top-level fields, run as real `aivault` processes against a
//! loopback HTTPS server standing in for `api.openai.com`: every refused envelope sends nothing.

mod common;

use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{Env, canary};

#[test]
fn refused_envelopes_send_nothing_upstream() {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let mut env = Env::new();
    let ca = pki.write_ca(env.root.path());
    env.set(
        "AIVAULT_DEV_RESOLVE",
        &format!("api.openai.com=127.0.0.1:{}", upstream.port()),
    );
    env.set("AIVAULT_DEV_CA_CERT", ca.to_str().expect("utf8"));
    let key = canary("openai");
    env.run(&[
        "secrets",
        "create",
        "--name",
        "OPENAI_API_KEY",
        "--value",
        &key,
        "--scope",
        "global",
    ])
    .ok();
    for (envelope, kind) in [
        (
            r#"{"capability":"openai/other","request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (
            r#"{"capability":"OPENAI/MODELS","request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (
            r#"{"extra":1,"request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (
            r#"{"credential":null,"request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (r#"{"request":[1]}"#, "invalid_input"),
        (
            r#"{"credential":"c-nope","request":{"path":"/v1/models"}}"#,
            "credential_not_found",
        ),
        (
            r#"{"credential":"c-nope","path":"/v1/models"}"#,
            "credential_not_found",
        ),
    ] {
        let run = env.run(&["json", "openai/models", "--request", envelope]);
        assert_ne!(run.code, 0, "{envelope}");
        assert!(run.stderr.contains(kind), "{envelope}: {}", run.stderr);
        assert!(!run.stderr.contains(&key) && !run.stdout.contains(&key));
    }
    assert_eq!(upstream.requests().len(), 0, "nothing sent");
}
