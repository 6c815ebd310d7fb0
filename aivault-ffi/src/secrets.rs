//! Secrets: create, list, update, rotate, delete, attach and detach a group, import. Values go
//! in as bytes; only metadata comes out.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;

use aivault_core::{
    Error, ErrorKind, GroupRef, NewSecret, Scope, ScopeKind, SecretFilter, SecretUpdate,
    SecretValue,
};
use serde::Deserialize;

use crate::boundary::{aivault_status, bytes, json_arg, json_call, optional_text, text};
use crate::vault::aivault_vault;
use aivault_core::requests::scope;

/// A value from C bytes (UTF-8 not required; never copied anywhere but the zeroizing buffer).
fn value(bytes: &[u8]) -> SecretValue {
    SecretValue::new(bytes.to_vec())
}

/// The scope of three optional C strings (see [`scope`]).
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string.
unsafe fn scope_args(
    kind: *const c_char,
    workspace_id: *const c_char,
    group_id: *const c_char,
) -> Result<Scope, Error> {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        scope(
            optional_text(kind, "scope")?,
            optional_text(workspace_id, "workspace_id")?,
            optional_text(group_id, "group_id")?,
        )
    }
}

/// Creates a secret named `name` holding the `value_len` bytes at `value`, in the scope given by
/// `scope` (`"global"`, `"workspace"`, `"group"`; NULL: the most specific of the ids given),
/// `workspace_id` and `group_id` (NULL when absent), with `aliases_json` (NULL, or a JSON array
/// of strings). `*out` receives the secret's metadata as JSON (never the value). A name a
/// registry provider claims pins the secret and provisions its credential, as the CLI does.
///
/// # Safety
/// `vault` is a live handle; string arguments are NULL or NUL-terminated; `value` points to
/// `value_len` readable bytes (or is NULL with 0); `out` points to writable storage for a
/// pointer. Release `*out` with `aivault_string_free`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // Mirrors the CLI's flags, one C argument each.
pub unsafe extern "C" fn aivault_secret_create(
    vault: *const aivault_vault,
    name: *const c_char,
    value: *const u8,
    value_len: usize,
    scope: *const c_char,
    workspace_id: *const c_char,
    group_id: *const c_char,
    aliases_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract above.
    unsafe {
        json_call(vault, out, |vault| {
            let aliases: Vec<String> = match optional_text(aliases_json, "aliases_json")? {
                Some(json) => serde_json::from_str(json).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        "aliases_json must be a JSON array of strings",
                    )
                })?,
                None => Vec::new(),
            };
            let secret = NewSecret {
                name: text(name, "name")?.to_string(),
                value: self::value(bytes(value, value_len, "value")?),
                scope: scope_args(scope, workspace_id, group_id)?,
                aliases,
            };
            vault.create_secret(secret).map(|outcome| outcome.secret)
        })
    }
}

/// Lists secret metadata (never values) as a JSON array, filtered by `scope`, `workspace_id`
/// and `group_id` (each NULL for no filter).
///
/// # Safety
/// As [`aivault_secret_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_secret_list(
    vault: *const aivault_vault,
    scope: *const c_char,
    workspace_id: *const c_char,
    group_id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let filter = SecretFilter {
                kind: optional_text(scope, "scope")?
                    .map(ScopeKind::parse)
                    .transpose()?,
                workspace_id: optional_text(workspace_id, "workspace_id")?.map(str::to_string),
                group_id: optional_text(group_id, "group_id")?.map(str::to_string),
            };
            filter.check()?;
            vault.list_secrets(&filter)
        })
    }
}

/// `aivault_secret_update`'s JSON: a new name and/or the full alias list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateRequest {
    name: Option<String>,
    aliases: Option<Vec<String>>,
}

/// Changes a secret's name and/or aliases: `update_json` is `{"name"?: "...", "aliases"?:
/// [...]}` (`[]` clears them). `*out` receives the metadata afterwards.
///
/// # Safety
/// As [`aivault_secret_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_secret_update(
    vault: *const aivault_vault,
    id: *const c_char,
    update_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let update: UpdateRequest = json_arg(update_json, "update_json")?;
            vault.update_secret(
                text(id, "id")?,
                SecretUpdate {
                    name: update.name,
                    aliases: update.aliases,
                },
            )
        })
    }
}

/// Gives secret `id` a new value (`value_len` bytes at `value`); its credentials use it from
/// the next call. `*out` receives the metadata afterwards.
///
/// # Safety
/// As [`aivault_secret_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_secret_rotate(
    vault: *const aivault_vault,
    id: *const c_char,
    value: *const u8,
    value_len: usize,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let value = self::value(bytes(value, value_len, "value")?);
            vault
                .rotate_secret(text(id, "id")?, value)
                .map(|outcome| outcome.secret)
        })
    }
}

/// Deletes secret `id` (with the credentials and bindings that use it). `*out` receives
/// `{"secret": metadata, "removedCredentials": [...], "removedBindings": n}`.
///
/// # Safety
/// As [`aivault_secret_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_secret_delete(
    vault: *const aivault_vault,
    id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe { json_call(vault, out, |vault| vault.delete_secret(text(id, "id")?)) }
}

/// Attaches (`attach` true) or detaches a global secret to/from a group.
///
/// # Safety
/// As [`aivault_secret_create`].
unsafe fn group_change(
    vault: *const aivault_vault,
    id: *const c_char,
    workspace_id: *const c_char,
    group_id: *const c_char,
    out: *mut *mut c_char,
    attach: bool,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let id = text(id, "id")?;
            let group = GroupRef::new(
                text(workspace_id, "workspace_id")?,
                text(group_id, "group_id")?,
            )?;
            if attach {
                vault.attach_group(id, &group)
            } else {
                vault.detach_group(id, &group)
            }
        })
    }
}

/// Makes global secret `id` visible to group `group_id` of workspace `workspace_id`. `*out`
/// receives the metadata afterwards.
///
/// # Safety
/// As [`aivault_secret_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_secret_attach_group(
    vault: *const aivault_vault,
    id: *const c_char,
    workspace_id: *const c_char,
    group_id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY: forwarded contract.
    unsafe { group_change(vault, id, workspace_id, group_id, out, true) }
}

/// Undoes [`aivault_secret_attach_group`].
///
/// # Safety
/// As [`aivault_secret_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_secret_detach_group(
    vault: *const aivault_vault,
    id: *const c_char,
    workspace_id: *const c_char,
    group_id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY: forwarded contract.
    unsafe { group_change(vault, id, workspace_id, group_id, out, false) }
}

/// Imports several secrets in one transaction: `entries_json` is a JSON object of
/// `"NAME": "value"` (existing names in the scope get a new value; empty values are skipped).
/// `*out` receives `{"created": [...], "rotated": [...], "skipped": [...]}` (names only).
///
/// # Safety
/// As [`aivault_secret_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_secret_import(
    vault: *const aivault_vault,
    entries_json: *const c_char,
    scope: *const c_char,
    workspace_id: *const c_char,
    group_id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            // Parsed without serde's messages: they may quote a value.
            let entries: std::collections::BTreeMap<String, String> =
                serde_json::from_str(text(entries_json, "entries_json")?).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        "entries_json must be a JSON object of \"NAME\": \"value\" strings",
                    )
                })?;
            let scope = scope_args(scope, workspace_id, group_id)?;
            let entries = entries
                .into_iter()
                .map(|(name, value)| (name, SecretValue::from(value)))
                .collect();
            vault.import_secrets(entries, &scope)
        })
    }
}
