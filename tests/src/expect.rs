//! The expectation checker. A step expects `{"ok": PATTERN}` or `{"error": "kind"}`; a
//! pattern matches a value when:
//!
//! - an object pattern: every key it names matches the value's key (other keys are ignored);
//! - an array pattern: the value is an array of the same length, matched element by element;
//! - a scalar: equal (numbers by value, so `1` matches `1.0`);
//! - an operator object (one key starting with `$`):
//!   `{"$absent": true}` the key is missing; `{"$any": true}` the key is present (any value);
//!   `{"$contains": "text"}` a string containing `text`; `{"$json": PATTERN}` a string that
//!   parses as JSON matching `PATTERN`.
//!
//! Each mismatch is reported with its path (`ok.headers.content-type`).

use serde_json::Value;

/// The mismatches between a step's expectation and a runner's result (empty: it matches).
pub fn check(expect: &Value, result: &Value) -> Vec<String> {
    match (expect.get("ok"), expect.get("error")) {
        (Some(pattern), _) => match result.get("ok") {
            Some(value) if result.as_object().is_some_and(|o| o.len() == 1) => {
                matches(pattern, Some(value), "ok")
            }
            _ => vec![format!("expected ok, got {}", short(result))],
        },
        (None, Some(kind)) => match result.get("error") {
            Some(got) if got == kind => Vec::new(),
            _ => vec![format!("expected error {kind}, got {}", short(result))],
        },
        (None, None) => vec![format!("malformed expectation {expect}")],
    }
}

/// The mismatches between `pattern` and `value` (`None`: the key is missing) at `path`.
pub fn matches(pattern: &Value, value: Option<&Value>, path: &str) -> Vec<String> {
    if let Some((op, arg)) = operator(pattern) {
        return operator_matches(op, arg, value, path);
    }
    let Some(value) = value else {
        return vec![format!("{path}: missing (expected {})", short(pattern))];
    };
    match pattern {
        Value::Object(keys) => {
            let Some(object) = value.as_object() else {
                return vec![format!("{path}: expected an object, got {}", short(value))];
            };
            keys.iter()
                .flat_map(|(k, p)| matches(p, object.get(k), &format!("{path}.{k}")))
                .collect()
        }
        Value::Array(items) => {
            let Some(array) = value.as_array() else {
                return vec![format!("{path}: expected an array, got {}", short(value))];
            };
            if array.len() != items.len() {
                return vec![format!(
                    "{path}: expected {} elements, got {}: {}",
                    items.len(),
                    array.len(),
                    short(value)
                )];
            }
            items
                .iter()
                .zip(array)
                .enumerate()
                .flat_map(|(i, (p, v))| matches(p, Some(v), &format!("{path}[{i}]")))
                .collect()
        }
        scalar if scalar_eq(scalar, value) => Vec::new(),
        scalar => vec![format!("{path}: expected {scalar}, got {}", short(value))],
    }
}

/// `{"$op": arg}` when `pattern` is an operator object.
fn operator(pattern: &Value) -> Option<(&str, &Value)> {
    let object = pattern.as_object()?;
    let (key, arg) = object.iter().next()?;
    (object.len() == 1 && key.starts_with('$')).then_some((key.as_str(), arg))
}

fn operator_matches(op: &str, arg: &Value, value: Option<&Value>, path: &str) -> Vec<String> {
    let fail = |what: String| vec![format!("{path}: {what}")];
    match (op, value) {
        ("$absent", None) => Vec::new(),
        ("$absent", Some(v)) => fail(format!("expected no such key, got {}", short(v))),
        ("$any", Some(_)) => Vec::new(),
        (_, None) => fail(format!("missing (expected {op} {})", short(arg))),
        ("$contains", Some(v)) => match (v.as_str(), arg.as_str()) {
            (Some(s), Some(part)) if s.contains(part) => Vec::new(),
            _ => fail(format!(
                "expected a string containing {arg}, got {}",
                short(v)
            )),
        },
        ("$json", Some(v)) => match v.as_str().map(serde_json::from_str::<Value>) {
            Some(Ok(parsed)) => matches(arg, Some(&parsed), &format!("{path}($json)")),
            _ => fail(format!("expected a JSON text, got {}", short(v))),
        },
        _ => fail(format!("unknown operator {op}")),
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A value for a message, cut to a readable length.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(pattern: Value, value: Value) -> Vec<String> {
        check(&json!({ "ok": pattern }), &json!({ "ok": value }))
    }

    #[test]
    fn objects_match_as_subsets_recursively() {
        let value = json!({"a": 1, "b": {"c": "x", "d": [1, 2]}, "e": null});
        assert!(ok(json!({}), value.clone()).is_empty());
        assert!(ok(json!({"b": {"c": "x"}}), value.clone()).is_empty());
        assert!(ok(json!({"e": null}), value.clone()).is_empty());
        let wrong = ok(json!({"b": {"c": "y"}}), value.clone());
        assert_eq!(wrong, ["ok.b.c: expected \"y\", got \"x\""]);
        let missing = ok(json!({"z": 1}), value.clone());
        assert_eq!(missing, ["ok.z: missing (expected 1)"]);
        assert_eq!(ok(json!({"a": {}}), value).len(), 1);
    }

    #[test]
    fn arrays_match_element_wise_with_the_same_length() {
        let value = json!([{"n": 1, "m": 2}, {"n": 2}]);
        assert!(ok(json!([{"n": 1}, {}]), value.clone()).is_empty());
        assert_eq!(ok(json!([{"n": 1}]), value.clone()).len(), 1);
        assert_eq!(ok(json!([{}, {}, {}]), value.clone()).len(), 1);
        assert_eq!(ok(json!([{"n": 2}, {"n": 1}]), value.clone()).len(), 2);
        assert_eq!(ok(json!([]), json!({})).len(), 1);
    }

    #[test]
    fn scalars_are_equal_numbers_by_value() {
        assert!(ok(json!(1), json!(1.0)).is_empty());
        assert_eq!(ok(json!(1), json!("1")).len(), 1);
        assert_eq!(ok(json!(true), json!(false)).len(), 1);
        assert_eq!(ok(json!(null), json!(0)).len(), 1);
    }

    #[test]
    fn operators() {
        let value = json!({"body": "{\"a\":[1]}", "text": "hello [REDACTED]"});
        assert!(ok(json!({"x": {"$absent": true}}), value.clone()).is_empty());
        assert_eq!(
            ok(json!({"body": {"$absent": true}}), value.clone()).len(),
            1
        );
        assert!(ok(json!({"body": {"$any": true}}), value.clone()).is_empty());
        assert_eq!(ok(json!({"x": {"$any": true}}), value.clone()).len(), 1);
        assert!(ok(json!({"text": {"$contains": "[REDACTED]"}}), value.clone()).is_empty());
        assert_eq!(
            ok(json!({"text": {"$contains": "key"}}), value.clone()).len(),
            1
        );
        assert!(ok(json!({"body": {"$json": {"a": [1]}}}), value.clone()).is_empty());
        assert_eq!(
            ok(json!({"body": {"$json": {"a": [2]}}}), value.clone()).len(),
            1
        );
        assert_eq!(ok(json!({"text": {"$json": {}}}), value.clone()).len(), 1);
        assert_eq!(ok(json!({"text": {"$nope": 1}}), value).len(), 1);
    }

    #[test]
    fn errors_match_by_kind_and_never_match_ok() {
        let expect = json!({"error": "not_found"});
        assert!(check(&expect, &json!({"error": "not_found"})).is_empty());
        assert_eq!(
            check(&expect, &json!({"error": "invalid_input"})),
            ["expected error \"not_found\", got {\"error\":\"invalid_input\"}"]
        );
        assert_eq!(check(&expect, &json!({"ok": {}})).len(), 1);
        assert_eq!(check(&json!({"ok": {}}), &json!({"error": "io"})).len(), 1);
        assert_eq!(
            check(&json!({"ok": {}}), &json!({"ok": {}, "error": "io"})).len(),
            1
        );
    }
}
