//! The one way work leaves the event loop: a [`Call`] is an `AsyncTask` whose closure runs on
//! the libuv thread pool (disk, crypto, network) and whose result becomes a Promise. Argument
//! errors found on the JS thread travel through the same path, so every method reports every
//! failure the same way: a rejected Promise whose error has `code` set.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use aivault_core::Vault;
use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName};
use napi::{Env, ScopedTask, Unknown};
use serde::Serialize;

use crate::error::Failure;
use crate::vault::Handle;

/// What a finished call hands back to JS (built on the JS thread).
pub trait Reply: Send + 'static {
    /// The JS value it becomes.
    type Js<'env>: ToNapiValue + TypeName;
    /// Builds it.
    fn into_js(self, env: &Env) -> napi::Result<Self::Js<'_>>;
}

/// A record as the CLI's JSON (camelCase), serialized on the pool thread.
pub struct Json(serde_json::Value);

impl Reply for Json {
    type Js<'env> = Unknown<'env>;
    fn into_js(self, env: &Env) -> napi::Result<Unknown<'_>> {
        env.to_js_value(&self.0)
    }
}

/// JSON numbers as JS numbers: napi's serializer takes an integer past `u32` for a BigInt
/// (or refuses it), so such integers (timestamps in ms) become doubles, exact below 2^53.
fn js_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n)
            if n.as_u64().is_some_and(|v| v > u64::from(u32::MAX))
                || n.as_i64().is_some_and(|v| v < i64::from(i32::MIN)) =>
        {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(js_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(js_numbers),
        _ => {}
    }
}

type Work<T> = Box<dyn FnOnce() -> Result<T, Failure> + Send>;

/// One blocking call, run off the event loop.
pub struct Call<T: Reply> {
    work: Option<Work<T>>,
}

impl<'task, T: Reply> ScopedTask<'task> for Call<T> {
    type Output = Result<T, Failure>;
    type JsValue = T::Js<'task>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let work = self.work.take().ok_or(Failure::Panic);
        Ok(work
            .and_then(|work| catch_unwind(AssertUnwindSafe(work)).unwrap_or(Err(Failure::Panic))))
    }

    fn resolve(&mut self, env: &'task Env, output: Self::Output) -> napi::Result<T::Js<'task>> {
        match output {
            Ok(reply) => reply.into_js(env),
            Err(failure) => Err(failure.into_napi(env)),
        }
    }
}

/// A call on the vault of `handle` (opened on first use, on the pool) with arguments read on
/// the JS thread; an argument error rejects the Promise without touching the vault.
pub(crate) fn call<A, T>(
    handle: &Arc<Handle>,
    args: Result<A, Failure>,
    work: impl FnOnce(&Vault, A) -> Result<T, Failure> + Send + 'static,
) -> AsyncTask<Call<T>>
where
    A: Send + 'static,
    T: Reply,
{
    let handle = Arc::clone(handle);
    task(move || {
        let args = args?;
        let vault = handle.vault()?;
        work(&vault, args)
    })
}

/// Any blocking work (no vault: the remote form's round trips), run off the event loop.
pub(crate) fn task<T: Reply>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> AsyncTask<Call<T>> {
    AsyncTask::new(Call {
        work: Some(Box::new(work)),
    })
}

/// A record as JS-ready JSON (large integers as doubles).
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Json, Failure> {
    serde_json::to_value(value)
        .map(|mut value| {
            js_numbers(&mut value);
            Json(value)
        })
        .map_err(|e| {
            Failure::Core(aivault_core::Error::new(
                aivault_core::ErrorKind::Internal,
                format!("cannot encode JSON: {e}"),
            ))
        })
}

/// As [`call`], for the usual case: a core call whose result goes back as JSON.
pub(crate) fn json<A, T>(
    handle: &Arc<Handle>,
    args: Result<A, Failure>,
    work: impl FnOnce(&Vault, A) -> aivault_core::Result<T> + Send + 'static,
) -> AsyncTask<Call<Json>>
where
    A: Send + 'static,
    T: Serialize,
{
    call(handle, args, move |vault, args| {
        to_json(&work(vault, args)?)
    })
}
