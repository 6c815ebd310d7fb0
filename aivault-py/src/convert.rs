//! Python values to and from JSON, the single translation point between Python's keyword
//! arguments and the core's structured arguments (`aivault_core::requests`, camelCase, unknown
//! fields refused) and between the core's records and Python dicts.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::errors::invalid;

/// `allow_private_network` → `allowPrivateNetwork`; a name already in camelCase is kept.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A Python value as JSON: `None`, `bool`, `int`, `float`, `str`, lists, tuples and dicts with
/// string keys. With `camel_keys`, dict keys are turned into camelCase at every level (for the
/// core's option objects, whose keys are field names, never data). Anything else is a
/// `TypeError` naming `what`.
pub fn to_json(value: &Bound<'_, PyAny>, camel_keys: bool, what: &str) -> PyResult<Value> {
    if value.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = value.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if value.is_instance_of::<PyInt>() {
        if let Ok(n) = value.extract::<i64>() {
            Ok(Value::from(n))
        } else {
            let n: u64 = value
                .extract()
                .map_err(|_| PyValueError::new_err(format!("{what}: integer out of range")))?;
            Ok(Value::from(n))
        }
    } else if let Ok(f) = value.cast::<PyFloat>() {
        serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("{what}: NaN and infinity are not JSON")))
    } else if let Ok(s) = value.cast::<PyString>() {
        Ok(Value::String(s.to_cow()?.into_owned()))
    } else if let Ok(list) = value.cast::<PyList>() {
        list.iter()
            .map(|item| to_json(&item, camel_keys, what))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array)
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        tuple
            .iter()
            .map(|item| to_json(&item, camel_keys, what))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array)
    } else if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, item) in dict.iter() {
            let key: String = key
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("{what}: dict keys must be str")))?;
            let key = if camel_keys { camel(&key) } else { key };
            map.insert(key, to_json(&item, camel_keys, what)?);
        }
        Ok(Value::Object(map))
    } else {
        Err(PyTypeError::new_err(format!(
            "{what}: expected None, bool, int, float, str, list or dict, got {}",
            value.get_type().name()?
        )))
    }
}

/// An object of the given fields (absent `None`s left out), read by the core as `T`: unknown
/// or mistyped fields are `InvalidInputError`.
pub fn request<T: DeserializeOwned>(what: &str, fields: Vec<(&str, Value)>) -> PyResult<T> {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    serde_json::from_value(Value::Object(map)).map_err(|e| invalid(format!("{what}: {e}")))
}

/// An optional string as JSON.
pub fn opt(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::String)
}

/// An optional Python option object (dict) as JSON with camelCase keys.
pub fn opt_obj(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Value> {
    match value {
        None => Ok(Value::Null),
        Some(v) if v.is_none() => Ok(Value::Null),
        Some(v) => {
            if !v.is_instance_of::<PyDict>() {
                return Err(PyTypeError::new_err(format!(
                    "{what}: expected a dict, got {}",
                    v.get_type().name()?
                )));
            }
            to_json(v, true, what)
        }
    }
}

/// A JSON value as a Python object (dicts keep the core's camelCase keys).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A core record as a Python dict (or list), through its JSON (the CLI's names).
pub fn record<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value).map_err(|e| {
        crate::errors::to_py(aivault_core::Error::new(
            aivault_core::ErrorKind::Internal,
            format!("cannot encode a record: {e}"),
        ))
    })?;
    to_py(py, &json)
}

#[cfg(test)]
mod tests {
    use super::camel;

    #[test]
    fn snake_case_keys_become_camel_case_and_camel_case_keys_stay() {
        assert_eq!(camel("allow_private_network"), "allowPrivateNetwork");
        assert_eq!(camel("insecureHttp"), "insecureHttp");
        assert_eq!(camel("kind"), "kind");
        assert_eq!(camel("_private"), "_private");
        assert_eq!(camel("header_name"), "headerName");
    }
}
