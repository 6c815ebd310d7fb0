//! Reading secret values and passphrases from flags, files, standard input, the environment
//! or a terminal prompt. Nothing read here is ever echoed.

use std::io::{self, IsTerminal, Read};

use aivault_core::config::ENV_PASSPHRASE;
use aivault_core::{Config, Error, ErrorKind, Result, SecretValue};

use crate::cli::{PassphraseArgs, ValueArgs};

/// Removes one trailing `\n` or `\r\n` (what `echo` and editors add to files).
fn strip_one_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    bytes
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read standard input: {e}")))?;
    Ok(bytes)
}

/// The secret value of `--value`, `--value-file` or `--value-stdin`.
pub fn secret_value(args: &ValueArgs) -> Result<SecretValue> {
    if let Some(value) = &args.value {
        return Ok(SecretValue::from(value.clone()));
    }
    let bytes = if let Some(path) = &args.value_file {
        std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read --value-file {}: {e}", path.display()),
            )
        })?
    } else {
        read_stdin()?
    };
    Ok(SecretValue::new(strip_one_newline(bytes)))
}

/// Where a command gets a passphrase, in order: the flag, the first line of standard input,
/// `AIVAULT_PASSPHRASE` (when `env` is given), then a prompt on the terminal (`confirm`
/// asks twice).
pub fn passphrase(
    flag: Option<&String>,
    from_stdin: bool,
    env: Option<&Config>,
    prompt: &str,
    confirm: bool,
) -> Result<SecretValue> {
    if let Some(passphrase) = flag {
        return Ok(SecretValue::from(passphrase.clone()));
    }
    if from_stdin {
        let bytes = read_stdin()?;
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
        return Ok(SecretValue::new(line.to_vec()));
    }
    if let Some(passphrase) = env.and_then(|config| (config.env)(ENV_PASSPHRASE)) {
        return Ok(passphrase);
    }
    if !io::stdin().is_terminal() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "no passphrase given: pipe it with --passphrase-stdin (or --new-passphrase-stdin), set AIVAULT_PASSPHRASE, or run on a terminal",
        ));
    }
    let first = prompt_hidden(prompt)?;
    if confirm && prompt_hidden("Repeat the passphrase: ")? != first {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "the passphrases do not match",
        ));
    }
    Ok(first)
}

/// The passphrase of `unlock` / `init`.
pub fn passphrase_args(
    args: &PassphraseArgs,
    config: &Config,
    confirm: bool,
) -> Result<SecretValue> {
    passphrase(
        args.passphrase.as_ref(),
        args.passphrase_stdin,
        Some(config),
        "Vault passphrase: ",
        confirm,
    )
}

fn prompt_hidden(prompt: &str) -> Result<SecretValue> {
    rpassword::prompt_password(prompt)
        .map(SecretValue::from)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read the passphrase: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_one_newline() {
        assert_eq!(strip_one_newline(b"abc\n".to_vec()), b"abc");
        assert_eq!(strip_one_newline(b"abc\r\n".to_vec()), b"abc");
        assert_eq!(strip_one_newline(b"abc\n\n".to_vec()), b"abc\n");
        assert_eq!(strip_one_newline(b"abc".to_vec()), b"abc");
    }
}
