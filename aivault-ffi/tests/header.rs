//! The committed C header is exactly what cbindgen (pinned) generates from this crate; set
//! `AIVAULT_WRITE_HEADER=1` to regenerate it after changing the ABI.

#[test]
fn committed_header_matches_the_crate() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config =
        cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = format!("{crate_dir}/include/aivault.h");
    if std::env::var_os("AIVAULT_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write header");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/aivault.h is out of date: run AIVAULT_WRITE_HEADER=1 cargo test -p aivault-ffi --test header"
    );
}
