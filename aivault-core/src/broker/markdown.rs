//! JSON responses as markdown (`aivault markdown`), for agents that read text better than JSON.

use serde_json::Value;

/// Renders JSON as markdown: objects as bullet lists (`**key**: value`), arrays of objects
/// as numbered sections, strings as text (so a chat completion's content reads naturally).
pub fn to_markdown(value: &Value) -> String {
    let mut out = String::new();
    render(value, 0, &mut out);
    out
}

fn render(value: &Value, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::Object(_) | Value::Array(_) if !is_empty(v) => {
                        out.push_str(&format!("{indent}- **{key}**:\n"));
                        render(v, depth + 1, out);
                    }
                    _ => out.push_str(&format!("{indent}- **{key}**: {}\n", scalar(v))),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(_) | Value::Array(_) if !is_empty(item) => {
                        out.push_str(&format!("{indent}{}.\n", i + 1));
                        render(item, depth + 1, out);
                    }
                    _ => out.push_str(&format!("{indent}{}. {}\n", i + 1, scalar(item))),
                }
            }
        }
        other => out.push_str(&format!("{indent}{}\n", scalar(other))),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "_null_".into(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_become_bullets_and_arrays_numbers() {
        let value = serde_json::json!({
            "id": "x",
            "choices": [{"message": {"content": "hello"}}],
            "empty": [],
            "none": null
        });
        assert_eq!(
            to_markdown(&value),
            "- **choices**:\n  1.\n    - **message**:\n      - **content**: hello\n\
             - **empty**: []\n- **id**: x\n- **none**: _null_\n"
        );
        assert_eq!(to_markdown(&serde_json::json!("plain")), "plain\n");
    }
}
