//! Links the cdylib as a Node addon (napi symbols resolved by the Node process at load time).
fn main() {
    napi_build::setup();
}
