//! The call cache of a long-lived handle (issue 13) against writes by real `aivault`
//! processes: a handle in this test process invokes `openai/models` in a loop (one thread,
//! calls one after another) against a loopback HTTPS upstream that records the
//! `Authorization` it received, while the test runs the `aivault` binary to rotate the
//! secret, delete it, delete the credential, deny the capability by policy, lock a
//! passphrase vault or rotate the master key. Every call that *starts* after the CLI process
//! exited must use the new value, or be refused; none may be served from a stale cache.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aivault_core::broker::netguard::DevRoutes;
use aivault_core::{Config, ErrorKind, Invocation, Vault};
use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{Env, canary, canary_forms, contains};

/// One call of the loop: when it started, and the upstream request index it produced or the
/// error kind it failed with.
struct Call {
    started: Instant,
    outcome: Result<usize, ErrorKind>,
}

/// A vault made by the CLI with `OPENAI_API_KEY` = `key`, its upstream, and a handle opened
/// in this process on the same directory (same key file, runtime directory and routing).
struct Fixture {
    env: Env,
    upstream: Upstream,
    _pki: Pki,
    secret_id: String,
}

impl Fixture {
    fn new(key: &str, passphrase: Option<&str>) -> Fixture {
        let pki = Pki::new(&["api.openai.com"]);
        let upstream = Upstream::https(&pki, echo_handler());
        let mut env = Env::new();
        env.route_to(&["api.openai.com"], &upstream, &pki);
        if let Some(passphrase) = passphrase {
            env.run_with_stdin(
                &["init", "--provider", "passphrase", "--passphrase-stdin"],
                format!("{passphrase}\n").as_bytes(),
            )
            .ok();
        }
        let created = env
            .run(&[
                "-v",
                "secrets",
                "create",
                "--name",
                "OPENAI_API_KEY",
                "--value",
                key,
            ])
            .ok()
            .json();
        let secret_id = created["secret"]["secretId"]
            .as_str()
            .or_else(|| created["secretId"].as_str())
            .unwrap_or_else(|| panic!("no secret id in {created}"))
            .to_string();
        Fixture {
            env,
            upstream,
            _pki: pki,
            secret_id,
        }
    }

    /// A handle on the CLI's vault, as a long-lived embedding process would hold.
    fn handle(&self) -> Vault {
        let config = Config {
            runtime_dir: self.env.runtime.clone(),
            dev_routes: DevRoutes::parse(&format!(
                "api.openai.com=127.0.0.1:{}",
                self.upstream.port()
            ))
            .expect("routes"),
            dev_ca_cert: Some(self._pki.ca_pem.clone()),
            ..Config::in_dir(&self.env.dir)
        };
        Vault::open_existing(config).expect("open the CLI's vault")
    }

    /// The `Authorization` of the upstream's request number `index`.
    fn authorization(&self, index: usize) -> String {
        self.upstream.requests()[index]
            .header("authorization")
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `args` with the CLI while `vault` invokes in a loop on another thread; returns
    /// the loop's calls and the instant the CLI process had exited. The loop goes on until
    /// at least `after` calls started after that instant.
    fn during_cli(&self, vault: &Vault, args: &[&str], after: usize) -> (Vec<Call>, Instant) {
        let calls = Mutex::new(Vec::new());
        let exited: Mutex<Option<Instant>> = Mutex::new(None);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let invocation = Invocation {
                    capability: "openai/models".into(),
                    ..Invocation::default()
                };
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let before = self.upstream.requests().len();
                    let outcome = match vault.invoke(&invocation) {
                        Ok(response) => {
                            assert_eq!(response.status, 200);
                            let after = self.upstream.requests().len();
                            assert_eq!(after, before + 1, "one request per call");
                            Ok(before)
                        }
                        Err(e) => Err(e.kind()),
                    };
                    calls.lock().expect("calls").push(Call { started, outcome });
                    let started_after = exited.lock().expect("exited").map_or(0, |t| {
                        calls
                            .lock()
                            .expect("calls")
                            .iter()
                            .filter(|c| c.started > t)
                            .count()
                    });
                    if started_after >= after {
                        break;
                    }
                }
            });
            // Let the loop run (and fill its cache) before the CLI writes.
            while calls.lock().expect("calls").len() < 5 {
                std::thread::sleep(Duration::from_millis(2));
            }
            let run = self.env.run(args);
            let done = Instant::now();
            *exited.lock().expect("exited") = Some(done);
            assert_eq!(
                run.code,
                0,
                "`aivault {}` failed: {}",
                args.join(" "),
                run.stderr
            );
            // The loop stops by itself; this only guards a loop that cannot make progress.
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let n = calls
                    .lock()
                    .expect("calls")
                    .iter()
                    .filter(|c| c.started > done)
                    .count();
                if n >= after {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            stop.store(true, Ordering::SeqCst);
        });
        let exited = exited.into_inner().expect("exited").expect("the CLI ran");
        (calls.into_inner().expect("calls"), exited)
    }
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// The loop's calls that started after the CLI exited (at least one).
fn started_after(calls: &[Call], exited: Instant) -> Vec<&Call> {
    let after: Vec<&Call> = calls.iter().filter(|c| c.started > exited).collect();
    assert!(!after.is_empty(), "no call started after the CLI exited");
    after
}

/// `aivault secrets rotate` in another process: the first call that starts after it exits
/// sends the new value, and so does every later one; calls before it sent the old one.
#[test]
fn rotation_by_the_cli_reaches_a_long_lived_handle_at_its_next_call() {
    let old = canary("cache-old");
    let new = canary("cache-new");
    let f = Fixture::new(&old, None);
    let vault = f.handle();
    let (calls, exited) = f.during_cli(
        &vault,
        &["secrets", "rotate", "--id", &f.secret_id, "--value", &new],
        5,
    );
    let before: Vec<&Call> = calls.iter().filter(|c| c.started <= exited).collect();
    assert!(before.len() >= 5);
    assert_eq!(
        f.authorization(*before[0].outcome.as_ref().expect("first call")),
        bearer(&old)
    );
    for call in started_after(&calls, exited) {
        let index = *call.outcome.as_ref().expect("a call after the rotation");
        assert_eq!(f.authorization(index), bearer(&new), "stale value served");
    }
    // Neither value is visible in the handle's Debug.
    let shown = format!("{vault:?}");
    for value in [&old, &new] {
        for form in canary_forms(value) {
            assert!(!contains(shown.as_bytes(), &form), "{shown}");
        }
    }
}

/// `aivault secrets delete`, `aivault credential delete` and a policy that denies every call
/// (`--rate-limit-per-minute 0`), each in another process: every call that starts after the
/// CLI exits is refused and sends nothing.
#[test]
fn deletion_and_denial_by_the_cli_stop_a_long_lived_handle_at_its_next_call() {
    for case in ["secret", "credential", "policy"] {
        let key = canary("cache-deleted");
        let f = Fixture::new(&key, None);
        let vault = f.handle();
        let args: Vec<String> = match case {
            "secret" => vec![
                "secrets".into(),
                "delete".into(),
                "--id".into(),
                f.secret_id.clone(),
            ],
            "credential" => vec!["credential".into(), "delete".into(), "openai".into()],
            _ => vec![
                "capability".into(),
                "policy".into(),
                "set".into(),
                "--capability".into(),
                "openai/models".into(),
                "--rate-limit-per-minute".into(),
                "0".into(),
            ],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (calls, exited) = f.during_cli(&vault, &args, 5);
        let sent_before = calls.iter().filter(|c| c.outcome.is_ok()).count();
        assert!(sent_before >= 5, "{case}: the loop never called");
        for call in started_after(&calls, exited) {
            let kind = call.outcome.as_ref().err().copied();
            assert!(
                kind.is_some(),
                "{case}: a call after the CLI exited was still sent"
            );
            let kind = kind.expect("refused");
            assert!(
                matches!(
                    kind,
                    ErrorKind::CredentialNotFound
                        | ErrorKind::CapabilityNotFound
                        | ErrorKind::RateLimited
                ),
                "{case}: unexpected refusal {kind:?}"
            );
            if case == "policy" {
                assert_eq!(kind, ErrorKind::RateLimited);
            }
        }
        // Nothing reached the upstream after the CLI exited.
        let last_ok = calls
            .iter()
            .filter_map(|c| c.outcome.as_ref().ok())
            .max()
            .copied()
            .expect("calls before");
        assert_eq!(f.upstream.requests().len(), last_ok + 1, "{case}");
        let shown = format!("{vault:?}");
        for form in canary_forms(&key) {
            assert!(!contains(shown.as_bytes(), &form), "{shown}");
        }
    }
}

/// `aivault lock` on a passphrase vault in another process: the handle, unlocked by that
/// session, is locked at its next call (`vault_locked`), cache or not.
#[test]
fn lock_by_the_cli_locks_a_long_lived_handle_at_its_next_call() {
    let key = canary("cache-locked");
    let f = Fixture::new(&key, Some("correct horse battery"));
    let vault = f.handle();
    let (calls, exited) = f.during_cli(&vault, &["lock"], 3);
    assert!(calls.iter().filter(|c| c.outcome.is_ok()).count() >= 5);
    for call in started_after(&calls, exited) {
        assert_eq!(call.outcome.as_ref().err(), Some(&ErrorKind::VaultLocked));
    }
}

/// `aivault rotate-master` in another process: the handle reloads the new master key at its
/// next call and keeps sending the (unchanged) secret; and after a second rotation plus a
/// secret rotation, the new value.
#[test]
fn master_rotation_by_the_cli_is_picked_up_at_the_next_call() {
    let key = canary("cache-master");
    let f = Fixture::new(&key, None);
    let vault = f.handle();
    let (calls, exited) = f.during_cli(&vault, &["rotate-master"], 5);
    for call in started_after(&calls, exited) {
        let index = *call
            .outcome
            .as_ref()
            .expect("calls go on after rotate-master");
        assert_eq!(f.authorization(index), bearer(&key));
    }
    let new = canary("cache-master-new");
    f.env.run(&["rotate-master"]).ok();
    f.env
        .run(&["secrets", "rotate", "--id", &f.secret_id, "--value", &new])
        .ok();
    vault
        .invoke(&Invocation {
            capability: "openai/models".into(),
            ..Invocation::default()
        })
        .expect("invoke after the second rotation");
    let last = f.upstream.requests().len() - 1;
    assert_eq!(f.authorization(last), bearer(&new));
}
