//! JSON responses as markdown (`aivault markdown`), for agents that read text better than JSON.

use std::io::{self, Write};

use serde_json::Value;

use super::json_tree::Json;

/// Renders JSON as markdown: objects as bullet lists (`**key**: value`), arrays of objects
/// as numbered sections, strings as text (so a chat completion's content reads naturally).
pub fn to_markdown(value: &Value) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_json(&Json::from_value(value), &mut out);
    // Built from `str`s only.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes [`to_markdown`]'s rendering of `json` to `out` as it goes, so a large body is never
/// held a second time as text.
///
/// # Errors
/// The writer's error.
pub fn write_json(json: &Json<'_>, out: &mut dyn Write) -> io::Result<()> {
    render(json, 0, out)
}

fn render(value: &Json<'_>, depth: usize, out: &mut dyn Write) -> io::Result<()> {
    let indent = "  ".repeat(depth);
    match value {
        Json::Object(entries) => {
            for (key, v) in entries {
                match v {
                    Json::Object(_) | Json::Array(_) if !is_empty(v) => {
                        writeln!(out, "{indent}- **{key}**:")?;
                        render(v, depth + 1, out)?;
                    }
                    _ => writeln!(out, "{indent}- **{key}**: {}", scalar(v))?,
                }
            }
        }
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::Object(_) | Json::Array(_) if !is_empty(item) => {
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

fn is_empty(value: &Json<'_>) -> bool {
    match value {
        Json::Object(m) => m.is_empty(),
        Json::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn scalar<'v>(value: &'v Json<'_>) -> std::borrow::Cow<'v, str> {
    match value {
        Json::String(s) => s.as_ref().into(),
        Json::Null => "_null_".into(),
        Json::Object(_) => "{}".into(),
        Json::Array(_) => "[]".into(),
        Json::Bool(b) => b.to_string().into(),
        Json::Number(n) => n.to_string().into(),
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
