//! The conformance harness: one loopback upstream, the one scenario list, four runners (Rust,
//! C, Python, Node), every transcript checked line by line against the expectations, every
//! upstream expectation against what the upstream recorded for that step, and the canary
//! looked for in every runner's output. See tests/README.md.

mod runners;
mod upstream;

use std::collections::BTreeMap;
use std::path::Path;

use aivault_conformance::{Scenario, flat, substitute, transcript};
use aivault_testkit::Upstream;
use runners::{Input, Runner};
use serde_json::{Value, json};

/// The scenario list with `${PORT}` and `${CANARY}` substituted.
fn scenarios(port: u16, canary: &str) -> Vec<Scenario> {
    let path = runners::repo().join("tests/scenarios.json");
    let text = std::fs::read_to_string(&path).expect("read tests/scenarios.json");
    let vars = BTreeMap::from([
        ("PORT".to_string(), port.to_string()),
        ("CANARY".to_string(), canary.to_string()),
    ]);
    let text = substitute::text(&text, &vars);
    aivault_conformance::load(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// A canary value unique to this run, made of characters no format escapes.
fn canary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("conf-canary-{}-{nanos}", std::process::id())
}

/// `scenarios` with the marker header (`runner:scenario:step`) added to every invoke.
fn marked(runner: &str, scenarios: &[Scenario]) -> Vec<Scenario> {
    let mut scenarios = scenarios.to_vec();
    for (s, scenario) in scenarios.iter_mut().enumerate() {
        for (n, step) in scenario.steps.iter_mut().enumerate() {
            if step.op != "invoke" {
                continue;
            }
            let marker = format!("{runner}:{s}:{n}");
            match step.args.entry("headers").or_insert_with(|| json!({})) {
                Value::Object(map) => {
                    map.insert(upstream::MARKER.into(), marker.into());
                }
                Value::Array(list) => list.push(json!({"name": upstream::MARKER, "value": marker})),
                _ => {}
            }
        }
    }
    scenarios
}

/// The scenario list as JSON (what the JSON-reading runners get).
fn to_json(scenarios: &[Scenario]) -> String {
    let list: Vec<Value> = scenarios
        .iter()
        .map(|s| {
            let steps: Vec<Value> = s
                .steps
                .iter()
                .map(|step| {
                    let mut v = json!({"op": step.op, "args": step.args, "save": step.save, "expect": step.expect});
                    if let Some(up) = &step.upstream {
                        v["upstream"] = up.clone();
                    }
                    v
                })
                .collect();
            json!({"name": s.name, "steps": steps})
        })
        .collect();
    serde_json::to_string_pretty(&list).expect("encode scenarios")
}

/// Runs `runner` over `scenarios` and returns every problem, each naming the runner (and the
/// scenario and step when it is about one).
fn check_runner(
    runner: &Runner,
    scenarios: &[Scenario],
    upstream: &Upstream,
    canary: &str,
    dir: &Path,
) -> Vec<String> {
    let marked = marked(&runner.name, scenarios);
    let input = dir.join(format!("{}.input", runner.name));
    let text = match runner.input {
        Input::Json => to_json(&marked),
        Input::Lines => flat::lines(&marked).unwrap_or_else(|e| panic!("{e}")),
    };
    std::fs::write(&input, text).expect("write the runner's input");
    let vault_root = dir.join(format!("{}-vaults", runner.name));
    std::fs::create_dir_all(&vault_root).expect("vault root");
    let run = runners::run(runner, &input, &vault_root, dir);

    let tag = |m: String| format!("[{}] {m}", runner.name);
    let mut problems = Vec::new();
    if let Some(failure) = &run.failure {
        problems.push(tag(format!(
            "{failure}; stderr:\n{}",
            run.stderr.trim_end()
        )));
    }
    problems.extend(
        transcript::check(scenarios, &run.stdout)
            .into_iter()
            .map(|m| tag(m.to_string())),
    );

    // What the upstream received, by (scenario, step), for this runner's marker.
    let mut received: BTreeMap<(usize, usize), Vec<Value>> = BTreeMap::new();
    for req in upstream.requests() {
        let Some(marker) = req.header(upstream::MARKER) else {
            continue;
        };
        let mut parts = marker.split(':');
        if parts.next() != Some(runner.name.as_str()) {
            continue;
        }
        let index = |p: Option<&str>| p.and_then(|p| p.parse::<usize>().ok());
        if let (Some(s), Some(n)) = (index(parts.next()), index(parts.next())) {
            let value =
                transcript::request_value(&req.method, &req.target, &req.headers, &req.body);
            received.entry((s, n)).or_default().push(value);
        }
    }
    for (s, scenario) in scenarios.iter().enumerate() {
        for (n, step) in scenario.steps.iter().enumerate() {
            if let Some(expectation) = &step.upstream {
                let got = received.get(&(s, n)).map(Vec::as_slice).unwrap_or_default();
                for m in transcript::check_upstream(expectation, got) {
                    problems.push(tag(format!(
                        "scenario '{}' step {n}: {} {m}",
                        scenario.name, step.op
                    )));
                }
            }
        }
    }

    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if text.contains(canary) {
            problems.push(tag(format!(
                "the canary secret value appears in its {stream}"
            )));
        }
    }
    problems
}

/// Writes a line to stderr past the test harness's output capture (which only takes the
/// `print!` family), so a skipped runner is visible even when the test passes.
fn notice(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Every runner that can run here; the others are failures under
/// `AIVAULT_CONFORMANCE_ALL=1`, else notices.
fn available(dir: &Path) -> (Vec<Runner>, Vec<String>) {
    let all = std::env::var("AIVAULT_CONFORMANCE_ALL").is_ok_and(|v| v == "1");
    let mut found = vec![runners::rust()];
    let mut problems = Vec::new();
    match runners::c(dir) {
        Ok(c) => found.push(c),
        Err(e) => problems.push(format!("[c] {e}")),
    }
    for (name, runner) in [("python", runners::python()), ("node", runners::node())] {
        match runner {
            Ok(r) => found.push(r),
            Err(why) if all => problems.push(format!(
                "[{name}] cannot run (AIVAULT_CONFORMANCE_ALL=1 requires it): {why}"
            )),
            Err(why) => notice(&format!(
                "NOTICE: the {name} conformance runner is skipped: {why} \
                 (set AIVAULT_CONFORMANCE_ALL=1 to make this a failure)"
            )),
        }
    }
    (found, problems)
}

#[test]
fn every_runner_agrees_with_the_scenarios() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let upstream = upstream::start();
    let canary = canary();
    let scenarios = scenarios(upstream.port(), &canary);
    assert!(
        scenarios.len() >= 10,
        "the scenario list looks truncated ({} scenarios)",
        scenarios.len()
    );
    let (found, mut problems) = available(tmp.path());
    for runner in &found {
        problems.extend(check_runner(
            runner,
            &scenarios,
            &upstream,
            &canary,
            tmp.path(),
        ));
        notice(&format!("conformance: the {} runner ran", runner.name));
    }
    assert!(
        problems.is_empty(),
        "{} conformance problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The harness itself can fail: a wrong ok pattern, a wrong error kind and a wrong upstream
/// expectation are each reported with runner, scenario and step.
#[test]
fn a_wrong_expectation_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let upstream = upstream::start();
    let canary = canary();
    let mut scenarios = scenarios(upstream.port(), &canary);
    let round = scenarios
        .iter()
        .position(|s| s.name == "round trip")
        .expect("a 'round trip' scenario");
    let steps = &mut scenarios[round].steps;
    let create = steps
        .iter()
        .position(|s| s.op == "secrets.create")
        .expect("create step");
    steps[create].expect = json!({"ok": {"name": "NOT_THE_NAME"}});
    let invoke = steps
        .iter()
        .position(|s| s.op == "invoke" && s.upstream.is_some())
        .expect("an invoke step with an upstream expectation");
    steps[invoke].upstream = Some(json!({"headers": {"authorization": "Bearer wrong"}}));
    let ok_step = steps
        .iter()
        .position(|s| s.expect.get("ok").is_some() && s.op == "secrets.list")
        .expect("a list step");
    steps[ok_step].expect = json!({"error": "not_found"});

    let problems = check_runner(&runners::rust(), &scenarios, &upstream, &canary, tmp.path());
    let starts = [
        format!(
            "[rust] scenario 'round trip' step {create}: secrets.create ok.name: expected \"NOT_THE_NAME\""
        ),
        format!(
            "[rust] scenario 'round trip' step {ok_step}: secrets.list expected error \"not_found\", got {{\"ok\""
        ),
        format!(
            "[rust] scenario 'round trip' step {invoke}: invoke upstream.headers.authorization: expected \"Bearer wrong\""
        ),
    ];
    for start in &starts {
        assert!(
            problems.iter().any(|p| p.starts_with(start.as_str())),
            "no problem starting with {start:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

/// A runner that prints the scenario file (and so the canary) and fails is caught three
/// ways: its exit status, its lines that are no result, and the canary in its output.
#[test]
fn a_leaking_broken_runner_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let upstream = upstream::start();
    let canary = canary();
    let scenarios = scenarios(upstream.port(), &canary);
    let cat = Runner {
        name: "cat".into(),
        command: vec!["cat".into()],
        input: Input::Json,
    };
    let problems = check_runner(&cat, &scenarios, &upstream, &canary, tmp.path());
    let has = |part: &str| problems.iter().any(|p| p.contains(part));
    assert!(has("the runner exited with"), "{problems:#?}");
    assert!(has("not a result line"), "{problems:#?}");
    assert!(has("no result line"), "{problems:#?}");
    assert!(
        has("the canary secret value appears in its stdout"),
        "{problems:#?}"
    );
}

/// The C runner again under valgrind (when installed): every operation of the list through the
/// C ABI with no definite or indirect leak and no memory error (exit status 99 otherwise).
#[test]
fn the_c_runner_is_clean_under_valgrind() {
    let probe = std::process::Command::new("valgrind")
        .arg("--version")
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        notice("NOTICE: valgrind is not installed: the C runner's leak check was skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let upstream = upstream::start();
    let canary = canary();
    let scenarios = scenarios(upstream.port(), &canary);
    let c = runners::c(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut command: Vec<std::ffi::OsString> = [
        "valgrind",
        "--quiet",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
    ]
    .iter()
    .map(Into::into)
    .collect();
    command.extend(c.command);
    let runner = Runner {
        name: "c-valgrind".into(),
        command,
        input: Input::Lines,
    };
    let problems = check_runner(&runner, &scenarios, &upstream, &canary, tmp.path());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
