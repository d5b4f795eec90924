fn main() {
    // `generate_context!` embeds ../ui/dist. A checkout that has not built the UI yet still
    // compiles (clippy, unit tests) and shows a page saying how to build it.
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        let _ = std::fs::create_dir_all(dist);
        let _ = std::fs::write(
            dist.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>StackPerf</title>\
             <p style='font:16px sans-serif;padding:2em'>The UI has not been built. \
             Run <code>scripts/run.sh</code> (or <code>npm --prefix ui run build</code>) and start again.</p>",
        );
    }
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::build()
}
