//! Instantiates the embedded component with exactly the capabilities one
//! download needs, and runs it.

use anyhow::{anyhow, Result};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use rangeget_core::FailureKind;

use crate::engine_config::engine_config;
use crate::guest_output::{GuestOutput, Target};
use crate::http_client::{Hooks, HttpClient};
use crate::progress::Progress;
use crate::sandbox::OutputMapping;

/// Compiled ahead of time by build.rs for this exact engine configuration.
static PRECOMPILED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rangeget.cwasm"));
/// The portable component, used if this CPU cannot run the precompiled code.
static COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rangeget.wasm"));

struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

fn wasm_error(context: &str) -> impl FnOnce(wasmtime::Error) -> anyhow::Error + '_ {
    move |e| anyhow!("{context}: {e:?}")
}

/// Loads the precompiled component (no Cranelift at start-up), falling back
/// to compiling the portable one when the engine rejects it (another CPU).
fn load_component(engine: &Engine) -> Result<Component> {
    // SAFETY: the bytes were produced by `precompile_component` in build.rs
    // with this wasmtime version and configuration, and are embedded
    // read-only in this binary; wasmtime checks the version and flags.
    match unsafe { Component::deserialize(engine, PRECOMPILED) } {
        Ok(component) => Ok(component),
        Err(_) => Component::new(engine, COMPONENT)
            .map_err(wasm_error("compiling the rangeget component")),
    }
}

/// How the component's run ended.
pub enum RunOutcome {
    Success,
    /// It failed; the kind is known when its final error line named one.
    Failed(Option<FailureKind>),
}

/// Runs the component with `args`.
pub async fn run(
    args: &[String],
    output: &OutputMapping,
    client: HttpClient,
    progress: &Progress,
) -> Result<RunOutcome> {
    let engine = Engine::new(&engine_config()).map_err(wasm_error("configuring wasmtime"))?;
    let component = load_component(&engine)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm_error("linking WASI"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(wasm_error("linking wasi:http"))?;
    let pre = CommandPre::new(
        linker
            .instantiate_pre(&component)
            .map_err(wasm_error("preparing the component"))?,
    )
    .map_err(wasm_error("the embedded component is not a WASI command"))?;

    let stderr = GuestOutput::new(Target::Stderr, progress.clone());
    let mut wasi = WasiCtx::builder();
    wasi.args(args)
        .stdout(GuestOutput::new(Target::Stdout, progress.clone()))
        .stderr(stderr.clone());
    // Run filesystem calls on the calling thread: each chunk write would
    // otherwise be handed to a blocking-pool thread and back.
    wasi.allow_blocking_current_thread(true);
    wasi.preopened_dir(&output.host_dir, &output.guest_dir, FsPerms::ReadWrite)
        .map_err(wasm_error("opening the output directory"))
        .map_err(|e| {
            e.context(format!(
                "cannot use {} as the output directory",
                output.host_dir.display()
            ))
        })?;
    if let Some((host, guest)) = &output.input_dir {
        wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
            .map_err(wasm_error("opening the input file's directory"))?;
    }
    let state = HostState {
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        hooks: Hooks { client },
    };
    let mut store = Store::new(&engine, state);
    let command = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_error("starting the component"))?;
    let succeeded = match command.wasi_cli_run().call_run(&mut store).await {
        Ok(result) => result.is_ok(),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => exit.0 == 0,
            None => return Err(anyhow!("the rangeget component crashed: {e:?}")),
        },
    };
    Ok(if succeeded {
        RunOutcome::Success
    } else {
        RunOutcome::Failed(stderr.failure_kind())
    })
}
