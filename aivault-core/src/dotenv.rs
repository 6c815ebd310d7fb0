//! A dotenv (`.env`) reader for `secrets import --env-file`.
//!
//! Accepted lines: `KEY=VALUE`, `export KEY=VALUE`, blank lines and `#` comments. Values may
//! be bare (trailing ` #comment` removed, surrounding spaces trimmed), single-quoted (taken
//! literally) or double-quoted (`\n`, `\r`, `\t`, `\"`, `\\` escapes; may span lines).
//! Errors name the line number, never a value.

use crate::error::{Error, Result};
use crate::sensitive::SecretValue;

/// Parses dotenv text into (name, value) pairs in file order.
pub fn parse(text: &str) -> Result<Vec<(String, SecretValue)>> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed
            .strip_prefix("export ")
            .map_or(trimmed, str::trim_start);
        let (key, rest) = body
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("env file line {number}: expected KEY=VALUE")))?;
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        {
            return Err(Error::invalid(format!(
                "env file line {number}: invalid name (use letters, digits, '_', '.', '-')"
            )));
        }
        let rest = rest.trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').ok_or_else(|| {
                Error::invalid(format!("env file line {number}: unterminated single quote"))
            })?;
            check_tail(&quoted[end + 1..], number)?;
            quoted[..end].to_string()
        } else if let Some(quoted) = rest.strip_prefix('"') {
            double_quoted(quoted, number, &mut lines)?
        } else {
            let bare = match rest.find(" #").or_else(|| rest.find("\t#")) {
                Some(comment) => &rest[..comment],
                None => rest,
            };
            bare.trim_end().to_string()
        };
        out.push((key.to_string(), SecretValue::from(value)));
    }
    Ok(out)
}

fn check_tail(tail: &str, number: usize) -> Result<()> {
    let tail = tail.trim();
    if tail.is_empty() || tail.starts_with('#') {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "env file line {number}: unexpected text after the closing quote"
        )))
    }
}

fn double_quoted<'a>(
    first: &'a str,
    number: usize,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Result<String> {
    let mut value = String::new();
    let mut current = first;
    loop {
        let mut chars = current.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    check_tail(&current[i + 1..], number)?;
                    return Ok(value);
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some('t') => value.push('\t'),
                    Some(other) => value.push(other),
                    None => value.push('\\'),
                },
                c => value.push(c),
            }
        }
        match lines.next() {
            Some((_, next)) => {
                value.push('\n');
                current = next;
            }
            None => {
                return Err(Error::invalid(format!(
                    "env file line {number}: unterminated double quote"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .expect("parses")
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.expose().to_vec()).expect("utf8")))
            .collect()
    }

    #[test]
    fn reads_common_forms() {
        let text = "# comment\n\nA=1\nexport B = two words # note\nC='lit #x \\n'\nD=\"x\\ny\"\nE=\"multi\nline\"\nF=\nG=a#b\n";
        assert_eq!(
            pairs(text),
            [
                ("A", "1"),
                ("B", "two words"),
                ("C", "lit #x \\n"),
                ("D", "x\ny"),
                ("E", "multi\nline"),
                ("F", ""),
                ("G", "a#b"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn errors_name_the_line_not_the_value() {
        for (text, line) in [
            ("A=1\nsk-canary-value\n", "line 2"),
            ("A='sk-canary\n", "line 1"),
            ("A=\"sk-canary\n", "line 1"),
            ("=sk-canary\n", "line 1"),
            ("A='x' sk-canary\n", "line 1"),
        ] {
            let err = parse(text).expect_err("must fail");
            assert!(err.message().contains(line), "{}", err.message());
            assert!(!err.message().contains("canary"), "{}", err.message());
        }
    }
}
