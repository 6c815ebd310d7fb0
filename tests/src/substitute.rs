//! `${name}` substitution: the harness replaces `${PORT}` and `${CANARY}` in the scenario
//! file; a runner replaces the names an earlier step saved, in every string argument.

use std::collections::BTreeMap;

use serde_json::Value;

/// `text` with every `${name}` whose name is in `vars` replaced; other `${...}` are kept.
pub fn text(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if vars.contains_key(&after[..end]) => {
                out.push_str(&vars[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `value` with [`text`] applied to every string in it (object keys included).
pub fn value(value: &Value, vars: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(text(s, vars)),
        Value::Array(items) => Value::Array(items.iter().map(|v| self::value(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (text(k, vars), self::value(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// How a saved value reads inside a string: a string as itself, anything else as JSON.
pub fn saved(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([("id".to_string(), "s-1".to_string())])
    }

    #[test]
    fn replaces_known_names_and_keeps_others() {
        assert_eq!(text("vault:secret:${id}", &vars()), "vault:secret:s-1");
        assert_eq!(text("${id}${id}", &vars()), "s-1s-1");
        assert_eq!(text("${other} ${id", &vars()), "${other} ${id");
        assert_eq!(text("$id {id}", &vars()), "$id {id}");
    }

    #[test]
    fn walks_nested_values() {
        let got = value(&json!({"a": ["${id}", 1, {"b": "x${id}"}]}), &vars());
        assert_eq!(got, json!({"a": ["s-1", 1, {"b": "xs-1"}]}));
        assert_eq!(saved(&json!(3)), "3");
        assert_eq!(saved(&json!("s")), "s");
    }
}
