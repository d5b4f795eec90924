//! The TypeScript bindings are generated from the command surface and committed; this test
//! regenerates them and fails when the committed file differs (run it with
//! `STACKPERF_WRITE_BINDINGS=1` to update the file, then commit it).

#[test]
fn committed_bindings_match_the_command_surface() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts");
    let tmp = std::env::temp_dir().join(format!("stackperf-bindings-{}.ts", std::process::id()));
    stackperf_desktop::export_bindings(&tmp).expect("export bindings");
    let fresh = std::fs::read_to_string(&tmp).expect("read generated bindings");
    let _ = std::fs::remove_file(&tmp);
    if std::env::var_os("STACKPERF_WRITE_BINDINGS").is_some() {
        std::fs::write(&path, &fresh).expect("write bindings");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ui/src/bindings.ts is out of date with src-tauri's commands: run \
         `STACKPERF_WRITE_BINDINGS=1 cargo test -p stackperf-desktop --test bindings` and commit it"
    );
}
