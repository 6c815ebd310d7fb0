//! The C runner's input: the scenario list flattened into lines, so the C runner never parses
//! a scenario's JSON structure. One line per scenario, step and save, fields separated by tabs:
//!
//! ```text
//! scenario <TAB> "name as a JSON string"
//! step <TAB> op <TAB> field <TAB> field ...
//! save <TAB> var <TAB> field
//! ```
//!
//! A step's fields are the C function's arguments in order, each as compact JSON text (which
//! never holds a raw tab or newline): a `const char *` or byte parameter gets a JSON string
//! (decoded by the runner) or `null` (a NULL pointer); a `*_json` parameter gets the JSON
//! text itself (or `null`, a NULL pointer). `save` lines follow the step they belong to.

use serde_json::{Map, Value};

use crate::Scenario;

/// How each operation's arguments become the C function's parameters, in order: `None` for a
/// parameter that takes the step's whole `args` object (less the listed names).
fn parameters(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "status" | "credentials.list" | "capabilities.list" | "audit.verify" => &[],
        "secrets.create" => &[
            "name",
            "value",
            "scope",
            "workspaceId",
            "groupId",
            "aliases",
        ],
        "secrets.list" => &["scope", "workspaceId", "groupId"],
        "secrets.update" => &["id", "*"],
        "secrets.rotate" => &["id", "value"],
        "secrets.delete"
        | "credentials.delete"
        | "capabilities.describe"
        | "capabilities.delete" => &["id"],
        "secrets.attachGroup" | "secrets.detachGroup" => &["id", "workspaceId", "groupId"],
        "secrets.import" => &["entries", "scope", "workspaceId", "groupId"],
        "credentials.create"
        | "capabilities.create"
        | "capabilities.bind"
        | "capabilities.unbind"
        | "capabilities.bindings"
        | "audit.query" => &["*"],
        "capabilities.setPolicy" => &["id", "policy"],
        "capabilities.route" => &["host", "method", "path"],
        "invoke" => &["*", "body"],
        _ => return None,
    })
}

/// The C function's arguments for one step, as JSON values (see the module doc).
pub fn fields(op: &str, args: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let params = parameters(op).ok_or_else(|| format!("unknown op '{op}'"))?;
    let named: Vec<&str> = params.iter().copied().filter(|p| *p != "*").collect();
    let whole = params.contains(&"*");
    if !whole && let Some(extra) = args.keys().find(|k| !named.contains(&k.as_str())) {
        return Err(format!("op '{op}' takes no argument '{extra}'"));
    }
    let fields = params
        .iter()
        .map(|&param| match (op, param) {
            (_, "*") => {
                let rest: Map<String, Value> = args
                    .iter()
                    .filter(|(k, _)| !named.contains(&k.as_str()) && *k != "json")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::Object(rest)
            }
            // The body is text: `body`, or `json` sent as its JSON text.
            ("invoke", "body") => match (args.get("body"), args.get("json")) {
                (Some(body), _) => body.clone(),
                (None, Some(json)) => Value::String(json.to_string()),
                (None, None) => Value::Null,
            },
            (_, name) => args.get(name).cloned().unwrap_or(Value::Null),
        })
        .collect();
    Ok(fields)
}

/// The whole list as the C runner's lines.
pub fn lines(scenarios: &[Scenario]) -> Result<String, String> {
    let mut out = String::new();
    for scenario in scenarios {
        out.push_str(&format!(
            "scenario\t{}\n",
            Value::String(scenario.name.clone())
        ));
        for (i, step) in scenario.steps.iter().enumerate() {
            let fields = fields(&step.op, &step.args)
                .map_err(|e| format!("scenario '{}' step {i}: {e}", scenario.name))?;
            out.push_str("step\t");
            out.push_str(&step.op);
            for field in fields {
                out.push('\t');
                out.push_str(&field.to_string());
            }
            out.push('\n');
            for (var, field) in &step.save {
                let field = field.as_str().unwrap_or_default();
                let plain = |s: &str| !s.is_empty() && !s.contains(['\t', '\n', '\r']);
                if !plain(var) || !plain(field) {
                    return Err(format!(
                        "scenario '{}' step {i}: save names must be plain words",
                        scenario.name
                    ));
                }
                out.push_str(&format!("save\t{var}\t{field}\n"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn positional_parameters_with_null_for_absent_ones() {
        let got = fields("secrets.create", &args(json!({"name": "A", "value": "v"})));
        assert_eq!(
            got,
            Ok(vec![
                json!("A"),
                json!("v"),
                json!(null),
                json!(null),
                json!(null),
                json!(null)
            ])
        );
        let got = fields("secrets.update", &args(json!({"id": "x", "name": "B"})));
        assert_eq!(got, Ok(vec![json!("x"), json!({"name": "B"})]));
        assert!(fields("secrets.delete", &args(json!({"id": "x", "idd": 1}))).is_err());
        assert!(fields("secrets.nope", &Map::new()).is_err());
    }

    #[test]
    fn invoke_splits_the_body_from_the_request() {
        let got = fields(
            "invoke",
            &args(json!({"capability": "c", "json": {"a": 1}})),
        );
        assert_eq!(
            got,
            Ok(vec![json!({"capability": "c"}), json!("{\"a\":1}")])
        );
        let got = fields("invoke", &args(json!({"capability": "c", "body": "hi"})));
        assert_eq!(got, Ok(vec![json!({"capability": "c"}), json!("hi")]));
        let got = fields("invoke", &args(json!({"capability": "c"})));
        assert_eq!(got, Ok(vec![json!({"capability": "c"}), json!(null)]));
    }

    #[test]
    fn lines_have_one_tab_separated_line_per_scenario_step_and_save() {
        let list = crate::load(
            r#"[{"name": "n\tm", "steps": [{"op": "secrets.delete", "args": {"id": "a\tb"}, "save": {"x": "secretId"}, "expect": {"ok": {}}}]}]"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            lines(&list),
            Ok("scenario\t\"n\\tm\"\nstep\tsecrets.delete\t\"a\\tb\"\nsave\tx\tsecretId\n".into())
        );
    }
}
