//! Embeds the provider registry: every `registry/*.toml` file is parsed here and written to
//! `$OUT_DIR/registry.json` as one JSON array (each entry gains a `source` field naming its
//! file), so processes never parse TOML at start-up. A syntax error fails the build and names
//! the file and line; schema validation happens in `registry.rs` and its tests.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let registry_dir = manifest_dir.join("..").join("registry");
    println!("cargo:rerun-if-changed={}", registry_dir.display());

    let mut files: Vec<PathBuf> = fs::read_dir(&registry_dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", registry_dir.display()))
        .map(|entry| entry.expect("readable registry entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();

    let providers: Vec<serde_json::Value> = files.iter().map(|path| convert(path)).collect();
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("registry.json");
    fs::write(
        &out,
        serde_json::to_vec(&providers).expect("registry serializes"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

fn convert(path: &Path) -> serde_json::Value {
    println!("cargo:rerun-if-changed={}", path.display());
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut value =
        serde_json::to_value(table).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file_name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    value
        .as_object_mut()
        .expect("a TOML document is a table")
        .insert(
            "source".into(),
            serde_json::Value::String(format!("registry/{file_name}")),
        );
    value
}
