//! Builds rangeget's components for wasm32-wasip2 (the command, and the
//! proxy that `rangeget serve` runs) and precompiles them, so the binary
//! embeds machine code and starts without running Cranelift. Also builds
//! the plugin template (the proxy with room for settings built in), which
//! `rangeget plugin` fills in and writes out; it is never run here.

use std::path::{Path, PathBuf};
use std::process::Command;

include!("src/engine_config.rs");

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for watched in ["guest", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-changed=src/engine_config.rs");

    let target_dir = build_components(
        &workspace,
        &[
            "--package",
            "rangeget-command",
            "--package",
            "rangeget-proxy",
            "--profile",
            "component",
        ],
    );
    build_components(
        &workspace,
        &[
            "--package",
            "rangeget-proxy",
            "--features",
            "rangeget-proxy/baked-settings",
            "--profile",
            "plugin",
        ],
    );
    build_components(
        &workspace,
        &[
            "--package",
            "rangeget-proxy",
            "--features",
            "rangeget-proxy/spin-config",
            "--profile",
            "spin",
        ],
    );
    // Only the tests use it (under `spin up`, when a spin binary is found).
    let spin = target_dir.join("wasm32-wasip2/spin/rangeget_proxy.wasm");
    println!(
        "cargo:rustc-env=RANGEGET_SPIN_PROXY_COMPONENT={}",
        spin.display()
    );
    let engine = wasmtime::Engine::new(&engine_config()).expect("engine");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // Tests run the same artifacts under other runtimes (wasmtime CLI, jco),
    // so their paths are exported to the test binaries.
    for (file, env_name) in [
        ("rangeget", "RANGEGET_COMPONENT"),
        ("rangeget_proxy", "RANGEGET_PROXY_COMPONENT"),
    ] {
        let wasm = target_dir.join(format!("wasm32-wasip2/component/{file}.wasm"));
        println!("cargo:rerun-if-changed={}", wasm.display());
        println!("cargo:rustc-env={env_name}={}", wasm.display());
        let bytes =
            std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
        std::fs::write(out_dir.join(format!("{file}.wasm")), &bytes).unwrap();
        let compiled = engine
            .precompile_component(&bytes)
            .unwrap_or_else(|e| panic!("precompiling {}: {e}", wasm.display()));
        std::fs::write(out_dir.join(format!("{file}.cwasm")), compiled).unwrap();
    }
    let template = target_dir.join("wasm32-wasip2/plugin/rangeget_proxy.wasm");
    println!("cargo:rerun-if-changed={}", template.display());
    println!(
        "cargo:rustc-env=RANGEGET_PLUGIN_TEMPLATE={}",
        template.display()
    );
    std::fs::copy(&template, out_dir.join("rangeget_plugin.wasm"))
        .unwrap_or_else(|e| panic!("copying {}: {e}", template.display()));
}

/// Runs one nested `cargo build` of guests (`what`: packages, features,
/// profile) into the shared target directory (its own
/// `wasm32-wasip2/PROFILE` subdirectory, so no lock is contended) and
/// returns that target directory.
fn build_components(workspace: &Path, what: &[&str]) -> PathBuf {
    let target_dir = target_dir(workspace);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--target", "wasm32-wasip2"])
        .args(what)
        .arg("--target-dir")
        .arg(&target_dir);
    // Flags meant for the host build must not leak into the wasm build,
    // nor clippy's wrapper when the host is linted (the components are
    // linted on their own, for their target).
    for (key, _) in std::env::vars() {
        let leaks = key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE"
            || key.starts_with("CLIPPY_")
            || matches!(key.as_str(), "RUSTFLAGS" | "RUSTC_WORKSPACE_WRAPPER");
        if leaks {
            command.env_remove(key);
        }
    }
    let status = command.status().expect("running cargo for the components");
    assert!(
        status.success(),
        "building the rangeget components failed; is the target installed? run: rustup target add wasm32-wasip2"
    );
    target_dir
}

/// The workspace's target directory: `CARGO_TARGET_DIR` when set, else the
/// ancestor of OUT_DIR just above the profile directory.
fn target_dir(workspace: &Path) -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace.join(dir)
        };
    }
    // OUT_DIR = <target>/<profile>/build/<pkg>-<hash>/out
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    out_dir
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace.join("target"))
}
