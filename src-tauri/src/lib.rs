//! The desktop shell: Tauri commands that each call one `stackperf-core` service, typed events,
//! and the start-up that builds the services once. No business logic lives here.

pub mod commands;
pub mod error;
pub mod events;
pub mod runs;
pub mod usage;
pub mod window;

use std::sync::Arc;

use stackperf_core::app::{App, AppPaths};
use tauri::Manager;

use commands::Shared;

/// When `run` began (for the start-up figure `ui_ready` logs).
pub(crate) static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
use error::UiError;

/// WebKitGTK's DMA-BUF renderer costs ~85 MiB of memory (PSS, measured: release build, idle,
/// 312 → 227 MiB) for a window of tables and SVG charts that does not need it; it is off unless
/// the user says otherwise (`WEBKIT_DISABLE_DMABUF_RENDERER=0` turns it back on, and with it
/// everything below). Called first thing, before any thread exists.
fn lean_webkit() {
    #[cfg(target_os = "linux")]
    {
        use std::env;
        if env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
            env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
        }
        if env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_some_and(|v| v == "1") {
            // The web process paints on the CPU (what llvmpipe did anyway): −3 to −11 MiB.
            if env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
                env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
            }
            no_gl_in_this_process();
        }
        fixed_mmap_threshold_for_webkit();
    }
}

/// glibc raises its threshold for serving large allocations with their own mappings the first
/// time such a mapping is freed; after that, whether a transient ~3.4 MiB allocation in WebKit's
/// web process during start-up lands in the heap, where it stays resident once
/// freed, depends on timing — in 5 of 6 starts it did (measured: release build, idle, web
/// process 97.2 or 100.6 MiB PSS). A fixed threshold (glibc's default value, 128 KiB) makes the
/// lower figure the rule (6 of 6). Set for WebKit's processes, which inherit this process's
/// environment; kept from every program core starts (its one command builder,
/// `stack::process::command`, removes it), which get the user's environment. A user's own
/// `GLIBC_TUNABLES` is left alone.
#[cfg(target_os = "linux")]
fn fixed_mmap_threshold_for_webkit() {
    const TUNABLES: &str = "GLIBC_TUNABLES";
    if std::env::var_os(TUNABLES).is_none() {
        std::env::set_var(TUNABLES, "glibc.malloc.mmap_threshold=131072");
        stackperf_core::stack::process::keep_from_children(&[TUNABLES]);
    }
}

/// Without the DMA-BUF renderer this process (GTK and WebKit's UI side) only shows the bitmaps
/// WebKit's web process paints, yet GTK probes GLX and WebKit opens an EGL display here anyway,
/// which loads the GL driver — with software GL, Mesa's llvmpipe and its 20 MiB of libLLVM
/// (measured: release build, idle, 226 → 208 MiB). So: GTK without GL, and the process's first
/// EGL call — the one on which libglvnd looks for EGL drivers, once per process — is made here
/// while the variable names none. It is then removed, so WebKit's web process, which paints with
/// EGL and aborts without it, starts with the user's environment and finds the driver as usual.
#[cfg(target_os = "linux")]
fn no_gl_in_this_process() {
    use std::env;
    const VENDORS: &str = "__EGL_VENDOR_LIBRARY_FILENAMES";
    if env::var_os(VENDORS).is_some() {
        return; // the user chose the EGL driver
    }
    if env::var_os("GDK_GL").is_none() {
        env::set_var("GDK_GL", "disable");
    }
    env::set_var(
        VENDORS,
        "/nonexistent/stackperf-no-egl-driver-in-the-ui-process.json",
    );
    let egl = khronos_egl::Instance::new(khronos_egl::Static);
    // The client extensions need every driver loaded: this is the call that looks (none found).
    let _ = egl.query_string(None, khronos_egl::EXTENSIONS);
    env::remove_var(VENDORS);
}

/// Open the core services (paths → store → keychain → key registry → stack).
fn open_app() -> Result<Arc<App>, UiError> {
    let paths = AppPaths::from_env()?;
    let app = tauri::async_runtime::block_on(App::open(paths))?;
    Ok(Arc::new(app))
}

/// The app's capture tailer (owned by core), with its batches and failures sent to the UI as
/// events.
fn start_capture_tailer(handle: tauri::AppHandle, app: Arc<App>) {
    tauri::async_runtime::spawn(async move {
        app.run_tailer(&crate::events::Window(handle)).await;
    });
}

pub fn run() {
    stackperf_core::paths::private_files();
    lean_webkit();
    let _ = STARTED.set(std::time::Instant::now());
    let builder = commands::builder();
    let shared = open_app();
    let core = shared.as_ref().ok().cloned();
    let built = tauri::Builder::default()
        // First: a second launch hands over to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            window::focus_main(app)
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(builder.invoke_handler())
        .on_window_event(|w, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if !window::may_close(w.app_handle()) {
                    api.prevent_close();
                }
            }
        })
        .setup(move |app| {
            builder.mount_events(app);
            if let Ok(core) = &shared {
                start_capture_tailer(app.handle().clone(), core.clone());
            }
            app.manage(Shared(shared));
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match built {
        Ok(a) => a,
        Err(e) => {
            eprintln!("stackperf-desktop: {e}");
            std::process::exit(1);
        }
    };
    stop_on_signals(app.handle().clone());
    app.run(move |_, event| {
        if let tauri::RunEvent::ExitRequested { .. } = event {
            eprintln!("stackperf-desktop: the last window closed");
        }
        // The window closed (or a signal asked the app to quit): stop the stack this app
        // started (core decides what that is).
        if let tauri::RunEvent::Exit = event {
            if let Some(core) = &core {
                match tauri::async_runtime::block_on(core.shutdown()) {
                    Ok(Some(r)) => eprintln!(
                        "stackperf-desktop: stopped {}",
                        stackperf_core::stack::Service::join(&r.stopped)
                    ),
                    Ok(None) => {}
                    Err(e) => eprintln!("stackperf-desktop: stopping the stack failed: {e}"),
                }
            }
        }
    });
}

/// SIGTERM, SIGINT and SIGHUP (a session logout, Ctrl-C in the terminal that started the app)
/// quit the app the way closing its window does, so the stack it started is stopped too.
fn stop_on_signals(handle: tauri::AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
        eprintln!("stackperf-desktop: quitting on a signal");
        handle.exit(0);
    });
}

/// Write the TypeScript bindings of every command and event to `path`.
pub fn export_bindings(path: &std::path::Path) -> Result<(), String> {
    use specta_typescript::Typescript;
    commands::builder()
        .export(
            Typescript::default().header(
                "// Generated by src-tauri (tests/bindings.rs). Do not edit.\n// @ts-nocheck\n",
            ),
            path,
        )
        .map_err(|e| e.to_string())
}
