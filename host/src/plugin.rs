//! `rangeget plugin`: writes the edge plugin for one origin, its settings
//! built in, for hosts that grant the `wasi:http/proxy` world and nothing
//! else (plain `wasmtime serve`, no `-S` flags; platforms without
//! `wasi:config`). The template is the proxy component built with room for
//! settings (`rangeget_core::proxy::baked`); this fills that room and checks the
//! result is still a component wasmtime accepts.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use rangeget_core::proxy::baked;

use crate::serve::{Purpose, ServeOptions};

const USAGE: &str =
    "usage: rangeget plugin --origin URL -o FILE [--connections N] [--chunk-size BYTES] [-v]

Writes a wasi:http/proxy component that serves the objects under URL
(GET /NAME fetches URL/NAME with N parallel validated range requests of
BYTES each), its settings built in: it imports exactly the
wasi:http/proxy world, so any host of that world runs it as it is, e.g.
  wasmtime serve --addr 127.0.0.1:8080 FILE";

/// The plugin template, as build.rs built it.
static TEMPLATE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rangeget_plugin.wasm"));

/// Runs `rangeget plugin ARGS` (the arguments after `plugin`).
pub fn main(args: Vec<OsString>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match write_plugin(args) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rangeget: plugin: {e:#}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn write_plugin(args: Vec<OsString>) -> Result<String> {
    let options = ServeOptions::parse_for(args, Purpose::Plugin)?;
    let output = options.output.clone().expect("plugin options have -o");
    let plugin = baked::patch(TEMPLATE, &options.component_settings()).map_err(|e| anyhow!(e))?;
    // Still a valid component: only data bytes changed, but say so before
    // anyone deploys it.
    let engine = wasmtime::Engine::new(&crate::engine_config::engine_config())
        .map_err(|e| anyhow!("configuring wasmtime: {e:?}"))?;
    wasmtime::component::Component::new(&engine, &plugin)
        .map_err(|e| anyhow!("the plugin does not load: {e:?}"))?;
    std::fs::write(&output, &plugin)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(format!(
        "wrote {} ({} KiB): serve it with `wasmtime serve {}` or any wasi:http/proxy host",
        output.display(),
        plugin.len() / 1024,
        output.display()
    ))
}
