//! `vault.credentials`: create, list, delete.

use std::sync::Arc;

use aivault_core::NewCredential;
use aivault_core::requests::CredentialRequest;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::args;
use crate::call::{Call, Json, json};
use crate::vault::Handle;

/// The credentials of a vault: which secret is injected, how, towards which hosts.
#[napi]
pub struct Credentials {
    handle: Arc<Handle>,
}

impl Credentials {
    pub(crate) fn new(handle: Arc<Handle>) -> Credentials {
        Credentials { handle }
    }
}

#[napi]
impl Credentials {
    /// Creates a credential: the options of `aivault credential create` in camelCase (`id`,
    /// `provider`, `secretRefs`, `auth`?, `hosts`?, `workspaceId`?, `groupId`?, `network`?).
    #[napi(
        catch_unwind,
        ts_args_type = "request: { id: string; provider: string; secretRefs: string[]; auth?: Record<string, unknown>; hosts?: string[]; workspaceId?: string; groupId?: string; network?: { allowPrivateNetwork?: boolean; insecureHttp?: boolean; caCert?: string } }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn create(&self, env: Env, request: Unknown) -> AsyncTask<Call<Json>> {
        let request = args::object::<CredentialRequest>(&env, request, "request");
        json(&self.handle, request, |vault, request| {
            vault.create_credential(NewCredential::from(request))
        })
    }

    /// Every credential (never a value).
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Record<string, any>>>")]
    pub fn list(&self) -> AsyncTask<Call<Json>> {
        json(&self.handle, Ok(()), |vault, ()| vault.list_credentials())
    }

    /// Deletes a credential; resolves to `{removed, id, origin?}`.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn delete(&self, env: Env, id: Unknown) -> AsyncTask<Call<Json>> {
        let id = args::text(&env, id, "id");
        json(&self.handle, id, |vault, id| vault.delete_credential(&id))
    }
}
