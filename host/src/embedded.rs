//! The two components embedded in this binary, and what running either of
//! them takes: an engine, the linked WASI and wasi:http imports, and the
//! per-instance state those imports read.

use anyhow::{anyhow, Result};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::engine_config::engine_config;
use crate::http_client::{Hooks, HttpClient};

/// A component as build.rs left it: precompiled for this engine
/// configuration, and portable in case this CPU cannot run that code.
pub struct Embedded {
    /// What the component is, for error messages.
    pub name: &'static str,
    precompiled: &'static [u8],
    portable: &'static [u8],
}

/// The downloader (world `command`).
pub const COMMAND: Embedded = Embedded {
    name: "the rangeget component",
    precompiled: include_bytes!(concat!(env!("OUT_DIR"), "/rangeget.cwasm")),
    portable: include_bytes!(concat!(env!("OUT_DIR"), "/rangeget.wasm")),
};

/// The edge plugin (world `proxy`) that `rangeget serve` runs.
pub const PROXY: Embedded = Embedded {
    name: "the proxy component",
    precompiled: include_bytes!(concat!(env!("OUT_DIR"), "/rangeget_proxy.cwasm")),
    portable: include_bytes!(concat!(env!("OUT_DIR"), "/rangeget_proxy.wasm")),
};

impl Embedded {
    /// A fresh engine with the component loaded and its WASI 0.2 and
    /// wasi:http imports linked, ready to instantiate.
    pub fn prepare(&self) -> Result<InstancePre<ComponentState>> {
        let engine = Engine::new(&engine_config()).map_err(wasm_error("configuring wasmtime"))?;
        let component = self.load(&engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm_error("linking WASI"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(wasm_error("linking wasi:http"))?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut ComponentState| {
            WasiConfig::new(&state.config)
        })
        .map_err(wasm_error("linking wasi:config"))?;
        linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("preparing {}: {e:?}", self.name))
    }

    /// The precompiled code (no Cranelift at start-up), else the portable
    /// component compiled now when the engine rejects it (another CPU).
    fn load(&self, engine: &Engine) -> Result<Component> {
        // SAFETY: the bytes were produced by `precompile_component` in
        // build.rs with this wasmtime version and configuration, and are
        // embedded read-only in this binary; wasmtime checks the version
        // and flags.
        match unsafe { Component::deserialize(engine, self.precompiled) } {
            Ok(component) => Ok(component),
            Err(_) => Component::new(engine, self.portable)
                .map_err(|e| anyhow!("compiling {}: {e:?}", self.name)),
        }
    }
}

/// Turns a wasmtime error into one that says what was being done.
pub fn wasm_error(context: &str) -> impl FnOnce(wasmtime::Error) -> anyhow::Error + '_ {
    move |e| anyhow!("{context}: {e:?}")
}

/// What one instance may use: the WASI context it was granted, and
/// outgoing HTTP through the host's pooled client.
pub struct ComponentState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    /// What `wasi:config/store` holds (the proxy's settings).
    config: WasiConfigVariables,
    /// What the instance's memory may grow to (unbounded unless set).
    memory: MemoryBound,
}

impl ComponentState {
    pub fn new(wasi: WasiCtx, client: HttpClient) -> Self {
        ComponentState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: Hooks { client },
            config: WasiConfigVariables::new(),
            memory: MemoryBound {
                max: usize::MAX,
                refused: None,
            },
        }
    }

    /// The state, its instance's linear memory bounded to `bytes`: a
    /// `memory.grow` beyond fails, as an allocation failure inside.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory.max = bytes;
        self
    }

    /// For [`wasmtime::Store::limiter`].
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// The size a `memory.grow` refused for the bound asked for, if any.
    pub fn memory_refused(&self) -> Option<usize> {
        self.memory.refused
    }

    /// The state, with `settings` in its `wasi:config/store`.
    pub fn with_config(mut self, settings: &[(String, String)]) -> Self {
        self.config = settings.iter().cloned().collect();
        self
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The bound on an instance's linear memory, which remembers being hit: a
/// component failing for want of memory says so only as a trap.
struct MemoryBound {
    max: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for MemoryBound {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold the component's functions; no client makes them grow.
        Ok(true)
    }
}
