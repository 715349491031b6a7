//! Builds the rangeget component for wasm32-wasip2 and precompiles it, so
//! the binary embeds machine code and starts without running Cranelift.

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

    let wasm = build_component(&workspace);
    println!("cargo:rerun-if-changed={}", wasm.display());
    let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));

    // Tests run the same artifact under other runtimes (wasmtime CLI, jco).
    println!("cargo:rustc-env=RANGEGET_COMPONENT={}", wasm.display());

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("rangeget.wasm"), &bytes).unwrap();
    let engine = wasmtime::Engine::new(&engine_config()).expect("engine");
    let compiled = engine
        .precompile_component(&bytes)
        .expect("precompiling the rangeget component");
    std::fs::write(out_dir.join("rangeget.cwasm"), compiled).unwrap();
}

/// Runs a nested `cargo build` of the guest into the shared target directory
/// (its own `wasm32-wasip2/component` subdirectory, so no lock is contended)
/// and returns the path of the component.
fn build_component(workspace: &Path) -> PathBuf {
    let target_dir = target_dir(workspace);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args([
            "build",
            "--package",
            "rangeget-command",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "component",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // Flags meant for the host build must not leak into the wasm build.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE"
            || key == "RUSTFLAGS"
        {
            command.env_remove(key);
        }
    }
    let status = command.status().expect("running cargo for the component");
    assert!(
        status.success(),
        "building the rangeget component failed; is the target installed? run: rustup target add wasm32-wasip2"
    );
    target_dir.join("wasm32-wasip2/component/rangeget.wasm")
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
