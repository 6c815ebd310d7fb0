//! Checking a runner's transcript (its stdout: one JSON line per step) against the
//! scenarios' expectations, and a step's upstream expectation against what the loopback
//! upstream recorded for that step's call.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::{Scenario, expect, substitute};

/// A mismatch: where (scenario, step) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The scenario's name.
    pub scenario: String,
    /// The step's index (`None`: about the transcript as a whole).
    pub step: Option<usize>,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(step) => write!(
                f,
                "scenario '{}' step {step}: {}",
                self.scenario, self.message
            ),
            None => write!(f, "scenario '{}': {}", self.scenario, self.message),
        }
    }
}

/// The results a transcript holds, by (scenario, step); lines that are no result line are
/// reported as mismatches of the pseudo-scenario `(transcript)`.
pub fn parse(stdout: &str) -> (BTreeMap<(String, usize), Value>, Vec<Mismatch>) {
    let mut results = BTreeMap::new();
    let mut problems = Vec::new();
    let problem = |message: String| Mismatch {
        scenario: "(transcript)".into(),
        step: None,
        message,
    };
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Option<(String, usize, Value)> =
            serde_json::from_str::<Value>(line).ok().and_then(|v| {
                let scenario = v.get("scenario")?.as_str()?.to_string();
                let step = usize::try_from(v.get("step")?.as_u64()?).ok()?;
                Some((scenario, step, v.get("result")?.clone()))
            });
        match parsed {
            Some((scenario, step, result)) => {
                if results.insert((scenario, step), result).is_some() {
                    problems.push(problem(format!("a step is reported twice: {line}")));
                }
            }
            None => problems.push(problem(format!("not a result line: {line}"))),
        }
    }
    (results, problems)
}

/// Every mismatch between a runner's stdout and the scenarios' expectations. An expectation
/// may name values saved by earlier steps (`${secretId}`): they are the values this runner's
/// own results gave, saved as the runner saves them.
pub fn check(scenarios: &[Scenario], stdout: &str) -> Vec<Mismatch> {
    let (mut results, mut mismatches) = parse(stdout);
    for scenario in scenarios {
        let mut saved: BTreeMap<String, String> = BTreeMap::new();
        for (i, step) in scenario.steps.iter().enumerate() {
            let at = |message: String| Mismatch {
                scenario: scenario.name.clone(),
                step: Some(i),
                message: format!("{} {message}", step.op),
            };
            match results.remove(&(scenario.name.clone(), i)) {
                Some(result) => {
                    let expectation = substitute::value(&step.expect, &saved);
                    mismatches.extend(
                        expect::check(&expectation, &result).into_iter().map(|m| {
                            at(format!("{m} (args {})", Value::Object(step.args.clone())))
                        }),
                    );
                    for (var, field) in &step.save {
                        let value = field.as_str().and_then(|f| result.get("ok")?.get(f));
                        if let Some(value) = value {
                            saved.insert(var.clone(), substitute::saved(value));
                        }
                    }
                }
                None => mismatches.push(at("no result line".into())),
            }
        }
    }
    for ((scenario, step), result) in results {
        mismatches.push(Mismatch {
            scenario,
            step: Some(step),
            message: format!("a result for a step that does not exist: {result}"),
        });
    }
    mismatches
}

/// One request the upstream received, as the upstream expectation patterns see it:
/// `{"method", "target", "headers": {"lowercase-name": "value"}, "body": "text"}` (a repeated
/// header's values joined with `", "`).
pub fn request_value(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Value {
    let mut names: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let joined = match names.get(&name).and_then(Value::as_str) {
            Some(before) => format!("{before}, {value}"),
            None => value.clone(),
        };
        names.insert(name, Value::String(joined));
    }
    serde_json::json!({
        "method": method,
        "target": target,
        "headers": names,
        "body": String::from_utf8_lossy(body),
    })
}

/// Checks a step's upstream expectation against the requests recorded for that step's call:
/// `null` means none may have arrived; a pattern means exactly one arrived and matches it.
pub fn check_upstream(expectation: &Value, received: &[Value]) -> Vec<String> {
    match (expectation, received) {
        (Value::Null, []) => Vec::new(),
        (Value::Null, got) => vec![format!(
            "the upstream received {} request(s), expected none",
            got.len()
        )],
        (pattern, [one]) => expect::matches(pattern, Some(one), "upstream"),
        (_, got) => vec![format!(
            "the upstream received {} request(s) for this step, expected one",
            got.len()
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scenarios() -> Vec<Scenario> {
        crate::load(
            r#"[{"name": "s", "steps": [
                {"op": "status", "expect": {"ok": {"initialized": true}}},
                {"op": "secrets.delete", "args": {"id": "x"}, "expect": {"error": "not_found"}}
            ]}]"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_matching_transcript_passes() {
        let out = "{\"scenario\":\"s\",\"step\":0,\"result\":{\"ok\":{\"initialized\":true,\"x\":1}}}\n\
                   {\"scenario\":\"s\",\"step\":1,\"result\":{\"error\":\"not_found\"}}\n";
        assert_eq!(check(&scenarios(), out), []);
    }

    #[test]
    fn wrong_missing_extra_and_garbage_lines_are_each_reported() {
        let out = "{\"scenario\":\"s\",\"step\":0,\"result\":{\"ok\":{\"initialized\":false}}}\n\
                   {\"scenario\":\"s\",\"step\":7,\"result\":{\"ok\":1}}\n\
                   warning: something\n";
        let got: Vec<String> = check(&scenarios(), out)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0].starts_with("scenario '(transcript)': not a result line: warning"));
        assert!(
            got[1].starts_with(
                "scenario 's' step 0: status ok.initialized: expected true, got false"
            )
        );
        assert!(got[2].starts_with("scenario 's' step 1: secrets.delete no result line"));
        assert!(got[3].starts_with("scenario 's' step 7: a result for a step"));
    }

    #[test]
    fn expectations_see_the_values_earlier_steps_saved() {
        let list = crate::load(
            r#"[{"name": "s", "steps": [
                {"op": "secrets.create", "save": {"id": "secretId"}, "expect": {"ok": {}}},
                {"op": "secrets.list", "expect": {"ok": [{"secretId": "${id}"}]}}
            ]}]"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let line = |step: usize, ok: &str| {
            format!("{{\"scenario\":\"s\",\"step\":{step},\"result\":{{\"ok\":{ok}}}}}\n")
        };
        let good = line(0, r#"{"secretId":"a-1"}"#) + &line(1, r#"[{"secretId":"a-1"}]"#);
        assert_eq!(check(&list, &good), []);
        let bad = line(0, r#"{"secretId":"a-1"}"#) + &line(1, r#"[{"secretId":"b-2"}]"#);
        assert_eq!(check(&list, &bad).len(), 1);
    }

    #[test]
    fn upstream_expectations() {
        let req = request_value(
            "GET",
            "/v1/ping",
            &[
                ("Authorization".into(), "Bearer k".into()),
                ("X-A".into(), "1".into()),
                ("x-a".into(), "2".into()),
            ],
            b"",
        );
        assert_eq!(req["headers"]["x-a"], "1, 2");
        let want = json!({"method": "GET", "headers": {"authorization": "Bearer k"}});
        assert!(check_upstream(&want, std::slice::from_ref(&req)).is_empty());
        let wrong = json!({"headers": {"authorization": "Bearer other"}});
        assert_eq!(check_upstream(&wrong, std::slice::from_ref(&req)).len(), 1);
        assert_eq!(check_upstream(&want, &[]).len(), 1);
        assert_eq!(check_upstream(&want, &[req.clone(), req.clone()]).len(), 1);
        assert!(check_upstream(&Value::Null, &[]).is_empty());
        assert_eq!(check_upstream(&Value::Null, &[req]).len(), 1);
    }
}
