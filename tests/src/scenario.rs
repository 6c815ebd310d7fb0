//! The scenario list (`tests/scenarios.json`): a JSON array of named scenarios, each a list
//! of steps (an operation, its arguments, what to save, what to expect).

use serde::Deserialize;
use serde_json::{Map, Value};

/// One named scenario: its steps run in order against a fresh vault.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A unique, human-readable name (reported with every mismatch).
    pub name: String,
    /// What the scenario shows (documentation only).
    #[serde(default)]
    pub about: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step: an operation of the tests/README.md table and what it must give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The operation (`secrets.create`, `invoke`, ...).
    pub op: String,
    /// Its arguments, camelCase (absent: none).
    #[serde(default)]
    pub args: Map<String, Value>,
    /// `{"name": "field"}`: saves the top-level `field` of the `ok` value as `${name}`.
    #[serde(default)]
    pub save: Map<String, Value>,
    /// `{"ok": PATTERN}` or `{"error": "kind"}` (see [`crate::expect`]).
    pub expect: Value,
    /// What the upstream must have received for this step's call (`null`: nothing at all).
    /// Absent: not checked.
    #[serde(default, deserialize_with = "present")]
    pub upstream: Option<Value>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`, so "absent" and "null" differ.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Parses the scenario list, refusing duplicate scenario names and malformed expectations.
pub fn load(text: &str) -> Result<Vec<Scenario>, String> {
    let scenarios: Vec<Scenario> =
        serde_json::from_str(text).map_err(|e| format!("scenarios.json: {e}"))?;
    let mut names = std::collections::BTreeSet::new();
    for scenario in &scenarios {
        if !names.insert(scenario.name.as_str()) {
            return Err(format!("scenario name '{}' is used twice", scenario.name));
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            let ok = match step.expect.as_object() {
                Some(e) if e.len() == 1 && e.contains_key("ok") => true,
                Some(e) if e.len() == 1 => e.get("error").is_some_and(Value::is_string),
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "scenario '{}' step {i}: expect must be {{\"ok\": PATTERN}} or {{\"error\": \"kind\"}}",
                    scenario.name
                ));
            }
        }
    }
    Ok(scenarios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_steps_and_tells_null_upstream_from_absent() {
        let list = load(
            r#"[{"name": "a", "steps": [
                {"op": "status", "expect": {"ok": {}}},
                {"op": "invoke", "args": {"capability": "x"}, "expect": {"error": "invalid_input"}, "upstream": null}
            ]}]"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list[0].steps[0].upstream, None);
        assert_eq!(list[0].steps[1].upstream, Some(Value::Null));
        assert_eq!(list[0].steps[1].args["capability"], "x");
    }

    #[test]
    fn refuses_bad_expectations_and_duplicate_names() {
        let bad =
            r#"[{"name": "a", "steps": [{"op": "status", "expect": {"ok": 1, "error": "io"}}]}]"#;
        assert!(load(bad).is_err());
        let bad = r#"[{"name": "a", "steps": [{"op": "status", "expect": {"error": 3}}]}]"#;
        assert!(load(bad).is_err());
        let dup = r#"[{"name": "a", "steps": []}, {"name": "a", "steps": []}]"#;
        assert!(load(dup).expect_err("duplicate names").contains("twice"));
        let unknown =
            r#"[{"name": "a", "steps": [{"op": "status", "expect": {"ok": 1}, "expcet": 2}]}]"#;
        assert!(load(unknown).is_err());
    }
}
