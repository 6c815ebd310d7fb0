//! JSON responses as markdown (`aivault markdown`), for agents that read text better than JSON.

use std::io::{self, Write};

use serde_json::Value;

/// Renders JSON as markdown: objects as bullet lists (`**key**: value`), arrays of objects
/// as numbered sections, strings as text (so a chat completion's content reads naturally).
pub fn to_markdown(value: &Value) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_markdown(value, &mut out);
    // Built from `str`s only.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes [`to_markdown`]'s rendering to `out` as it goes, so a large body is never held a
/// second time as text.
///
/// # Errors
/// The writer's error.
pub fn write_markdown(value: &Value, out: &mut dyn Write) -> io::Result<()> {
    render(value, 0, out)
}

fn render(value: &Value, depth: usize, out: &mut dyn Write) -> io::Result<()> {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::Object(_) | Value::Array(_) if !is_empty(v) => {
                        writeln!(out, "{indent}- **{key}**:")?;
                        render(v, depth + 1, out)?;
                    }
                    _ => writeln!(out, "{indent}- **{key}**: {}", scalar(v))?,
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(_) | Value::Array(_) if !is_empty(item) => {
                        writeln!(out, "{indent}{}.", i + 1)?;
                        render(item, depth + 1, out)?;
                    }
                    _ => writeln!(out, "{indent}{}. {}", i + 1, scalar(item))?,
                }
            }
        }
        other => writeln!(out, "{indent}{}", scalar(other))?,
    }
    Ok(())
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn scalar(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::String(s) => s.as_str().into(),
        Value::Null => "_null_".into(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string().into(),
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
