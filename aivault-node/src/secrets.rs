//! `vault.secrets`: create, list, update, rotate, delete, attach and detach a group, import.
//! Values go in (string or bytes, straight into the core's zeroizing buffer); only metadata
//! comes out.

use std::collections::BTreeMap;
use std::sync::Arc;

use aivault_core::requests::scope;
use aivault_core::{GroupRef, NewSecret, ScopeKind, SecretFilter, SecretUpdate};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Unknown};
use napi_derive::napi;
use serde::Deserialize;

use crate::args::{self, Secret};
use crate::call::{Call, Json, json};
use crate::vault::Handle;

/// `secrets.create`'s argument.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateArgs {
    name: String,
    value: Secret,
    scope: Option<String>,
    workspace_id: Option<String>,
    group_id: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

/// A scope or a filter: `{scope?, workspaceId?, groupId?}`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScopeArgs {
    scope: Option<String>,
    workspace_id: Option<String>,
    group_id: Option<String>,
}

/// `secrets.update`'s changes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateArgs {
    name: Option<String>,
    aliases: Option<Vec<String>>,
}

/// A group: `{workspaceId, groupId}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupArgs {
    workspace_id: String,
    group_id: String,
}

/// The secrets of a vault.
#[napi]
pub struct Secrets {
    handle: Arc<Handle>,
}

impl Secrets {
    pub(crate) fn new(handle: Arc<Handle>) -> Secrets {
        Secrets { handle }
    }
}

#[napi]
impl Secrets {
    /// Creates a secret; resolves to its metadata. Without `scope`, the most specific of the
    /// ids given (none: global). A name a registry provider claims pins the secret and
    /// provisions its credential, as the CLI does.
    #[napi(
        catch_unwind,
        ts_args_type = "args: { name: string; value: string | Buffer | Uint8Array; scope?: 'global' | 'workspace' | 'group'; workspaceId?: string; groupId?: string; aliases?: string[] }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn create(&self, env: Env, args: Unknown) -> AsyncTask<Call<Json>> {
        let args = args::object::<CreateArgs>(&env, args, "args").and_then(|a| {
            let scope = scope(
                a.scope.as_deref(),
                a.workspace_id.as_deref(),
                a.group_id.as_deref(),
            )?;
            Ok(NewSecret {
                name: a.name,
                value: a.value.0,
                scope,
                aliases: a.aliases,
            })
        });
        json(&self.handle, args, |vault, secret| {
            vault.create_secret(secret).map(|outcome| outcome.secret)
        })
    }

    /// Secret metadata (never values), filtered by scope kind, workspace and group.
    #[napi(
        catch_unwind,
        ts_args_type = "filter?: { scope?: 'global' | 'workspace' | 'group'; workspaceId?: string; groupId?: string }",
        ts_return_type = "Promise<Array<Record<string, any>>>"
    )]
    pub fn list(&self, env: Env, filter: Option<Unknown>) -> AsyncTask<Call<Json>> {
        let filter = match filter {
            Some(filter) => args::optional_object::<ScopeArgs>(&env, filter, "filter"),
            None => Ok(ScopeArgs::default()),
        }
        .and_then(|f| {
            Ok(SecretFilter {
                kind: f.scope.as_deref().map(ScopeKind::parse).transpose()?,
                workspace_id: f.workspace_id,
                group_id: f.group_id,
            })
        });
        json(&self.handle, filter, |vault, filter| {
            vault.list_secrets(&filter)
        })
    }

    /// Renames a secret and/or replaces its aliases (`[]` clears them).
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, changes: { name?: string; aliases?: string[] }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn update(&self, env: Env, id: Unknown, changes: Unknown) -> AsyncTask<Call<Json>> {
        let args = args::text(&env, id, "id").and_then(|id| {
            let changes = args::object::<UpdateArgs>(&env, changes, "changes")?;
            Ok((id, changes))
        });
        json(&self.handle, args, |vault, (id, changes)| {
            vault.update_secret(
                &id,
                SecretUpdate {
                    name: changes.name,
                    aliases: changes.aliases,
                },
            )
        })
    }

    /// Gives a secret a new value; its credentials use it from the next call.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, value: string | Buffer | Uint8Array",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn rotate(&self, env: Env, id: Unknown, value: Unknown) -> AsyncTask<Call<Json>> {
        let args = args::text(&env, id, "id").and_then(|id| {
            let value = args::secret(&env, value, "value")?;
            Ok((id, value))
        });
        json(&self.handle, args, |vault, (id, value)| {
            vault
                .rotate_secret(&id, value)
                .map(|outcome| outcome.secret)
        })
    }

    /// Deletes a secret with the credentials and bindings that use it; resolves to
    /// `{secret, removedCredentials, removedBindings}`.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn delete(&self, env: Env, id: Unknown) -> AsyncTask<Call<Json>> {
        let id = args::text(&env, id, "id");
        json(&self.handle, id, |vault, id| vault.delete_secret(&id))
    }

    /// Makes a global secret visible to a group.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, group: { workspaceId: string; groupId: string }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn attach_group(&self, env: Env, id: Unknown, group: Unknown) -> AsyncTask<Call<Json>> {
        self.group_change(&env, id, group, true)
    }

    /// Undoes `attachGroup`.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, group: { workspaceId: string; groupId: string }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn detach_group(&self, env: Env, id: Unknown, group: Unknown) -> AsyncTask<Call<Json>> {
        self.group_change(&env, id, group, false)
    }

    /// Imports `{"NAME": "value"}` in one transaction (existing names in the scope get a new
    /// value; empty values are skipped); resolves to `{created, rotated, skipped}` (names only).
    #[napi(
        catch_unwind,
        ts_args_type = "entries: Record<string, string>, scope?: { scope?: 'global' | 'workspace' | 'group'; workspaceId?: string; groupId?: string }",
        ts_return_type = "Promise<{ created: string[]; rotated: string[]; skipped: string[] }>"
    )]
    pub fn import(
        &self,
        env: Env,
        entries: Unknown,
        scope_args: Option<Unknown>,
    ) -> AsyncTask<Call<Json>> {
        let args = args::object::<BTreeMap<String, Secret>>(&env, entries, "entries").and_then(
            |entries| {
                let s = match scope_args {
                    Some(s) => args::optional_object::<ScopeArgs>(&env, s, "scope")?,
                    None => ScopeArgs::default(),
                };
                let scope = scope(
                    s.scope.as_deref(),
                    s.workspace_id.as_deref(),
                    s.group_id.as_deref(),
                )?;
                let entries: Vec<_> = entries.into_iter().map(|(n, v)| (n, v.0)).collect();
                Ok((entries, scope))
            },
        );
        json(&self.handle, args, |vault, (entries, scope)| {
            vault.import_secrets(entries, &scope)
        })
    }
}

impl Secrets {
    fn group_change(
        &self,
        env: &Env,
        id: Unknown,
        group: Unknown,
        attach: bool,
    ) -> AsyncTask<Call<Json>> {
        let args = args::text(env, id, "id").and_then(|id| {
            let g = args::object::<GroupArgs>(env, group, "group")?;
            Ok((id, GroupRef::new(&g.workspace_id, &g.group_id)?))
        });
        json(&self.handle, args, move |vault, (id, group)| {
            if attach {
                vault.attach_group(&id, &group)
            } else {
                vault.detach_group(&id, &group)
            }
        })
    }
}
