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
    symbol_order();
    tauri_build::build()
}

/// Release builds for x86-64 Linux (linked by rust-lld, the default there since Rust 1.90) put the functions the app runs from start
/// to idle next to each other, listed in `symbol-order.txt` (made by `scripts/symbol-order.sh`):
/// the kernel maps a binary's code 64 KiB around each page first touched, so packed together they
/// hold ~6 MiB less of it in memory than spread over the binary's 13 MiB of code. A name the build
/// does not have is skipped. `STACKPERF_SYMBOL_ORDER=0` builds without it; so does a linker of the
/// user's choice, which may not know the option.
fn symbol_order() {
    use std::env::var;
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=STACKPERF_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let file = std::path::Path::new(&var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("symbol-order.txt");
    let wanted = var("PROFILE").is_ok_and(|p| p == "release")
        && var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu")
        && rust_lld_is_the_default()
        && var("STACKPERF_SYMBOL_ORDER").map_or(true, |v| v != "0")
        && var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_err()
        && !var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| f.contains("link"))
        && file.is_file();
    if wanted {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the compiler building this is Rust 1.90 or later, which links x86-64 Linux binaries
/// with rust-lld by default; before it, GNU ld does not know `--symbol-ordering-file`.
fn rust_lld_is_the_default() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text.split_whitespace().nth(1).unwrap_or("").split('.');
    let major: u32 = version.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let minor: u32 = version.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    (major, minor) >= (1, 90)
}
