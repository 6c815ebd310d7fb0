//! `vault.audit`: query and verify.

use std::sync::Arc;

use aivault_core::AuditQuery;
use aivault_core::requests::AuditQueryRequest;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::args;
use crate::call::{Call, Json, json};
use crate::vault::Handle;

/// The audit log of a vault (events name ids and kinds, never values).
#[napi]
pub struct Audit {
    handle: Arc<Handle>,
}

impl Audit {
    pub(crate) fn new(handle: Arc<Handle>) -> Audit {
        Audit { handle }
    }
}

#[napi]
impl Audit {
    /// Events, newest first.
    #[napi(
        catch_unwind,
        ts_args_type = "query?: { limit?: number; beforeTsMs?: number; kind?: string; secretId?: string }",
        ts_return_type = "Promise<Array<Record<string, any>>>"
    )]
    pub fn query(&self, env: Env, query: Option<Unknown>) -> AsyncTask<Call<Json>> {
        let query = match query {
            Some(q) => args::optional_object::<AuditQueryRequest>(&env, q, "query"),
            None => Ok(AuditQueryRequest::default()),
        };
        json(&self.handle, query, |vault, query| {
            vault.audit(&AuditQuery::from(query))
        })
    }

    /// Verifies the log's HMAC chain: whether it holds and, if not, where it breaks.
    #[napi(catch_unwind, ts_return_type = "Promise<Record<string, any>>")]
    pub fn verify(&self) -> AsyncTask<Call<Json>> {
        json(&self.handle, Ok(()), |vault, ()| vault.verify_audit())
    }
}
