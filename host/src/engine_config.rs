// Shared by `build.rs` (which precompiles the component) and the binary
// (which deserialises it): wasmtime refuses precompiled code from an engine
// configured differently, so there is exactly one definition.

/// The wasmtime configuration the component is compiled for and run with.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config
}
