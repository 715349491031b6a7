//! Where the proxy's settings come from: `wasi:config/store`, the
//! interface edge platforms give components their configuration through
//! (wasmCloud, Spin's variables; `wasmtime serve -S config-var=K=V`;
//! `rangeget serve` from its flags). Not the environment: the proxy world
//! has none, and wasmCloud starts components with it empty.
//!
//! A plugin (`rangeget plugin`, feature `baked-settings`) has them built
//! in instead (see `rangeget_core::proxy::baked`), and imports nothing to ask for them.

use rangeget_core::proxy::config::ProxyConfig;

#[cfg(not(any(feature = "baked-settings", feature = "spin-config")))]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package rangeget:proxy-settings;
            world settings { import wasi:config/store@0.2.0-rc.1; }
        ",
        path: "../../wit/deps/config",
        generate_all,
    });
}

/// Spin offers wasi:config at this draft; its variables' names are
/// lowercase (the settings' keys are read without regard to case).
#[cfg(all(feature = "spin-config", not(feature = "baked-settings")))]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package rangeget:proxy-settings;
            world settings { import wasi:config/store@0.2.0-draft-2024-09-27; }
        ",
        path: "../../wit/deps/config-draft",
        generate_all,
    });
}

/// The settings the host holds for this component, checked.
#[cfg(not(feature = "baked-settings"))]
pub fn read() -> Result<ProxyConfig, String> {
    use bindings::wasi::config::store::{self, Error};
    let pairs = store::get_all().map_err(|error| {
        let detail = match error {
            Error::Upstream(text) | Error::Io(text) => text,
        };
        format!("its host could not give it its settings (wasi:config/store): {detail}")
    })?;
    ProxyConfig::from_vars(pairs)
}

/// The settings built into this plugin, checked.
#[cfg(feature = "baked-settings")]
pub fn read() -> Result<ProxyConfig, String> {
    let settings = rangeget_core::proxy::baked::unbake(&built_in::block());
    if settings.is_empty() {
        return Err(
            "this is the plugin template, with no settings built in; make a plugin \
                    with: rangeget plugin --origin URL -o plugin.wasm"
                .into(),
        );
    }
    ProxyConfig::from_vars(settings)
}

#[cfg(feature = "baked-settings")]
mod built_in {
    use rangeget_core::proxy::baked::{MARKER, ROOM};

    const LEN: usize = MARKER.len() + ROOM;

    /// The marker, then the room `rangeget plugin` writes the settings into.
    #[used]
    static BLOCK: [u8; LEN] = template();

    const fn template() -> [u8; LEN] {
        let mut block = [0; LEN];
        let mut i = 0;
        while i < MARKER.len() {
            block[i] = MARKER[i];
            i += 1;
        }
        block
    }

    /// The settings block as the binary holds it. Volatile reads: to the
    /// compiler `BLOCK` is a constant it could fold into zeros, but the
    /// bytes are replaced in the binary after the build.
    pub fn block() -> Vec<u8> {
        (MARKER.len()..LEN)
            // SAFETY: an in-bounds read of an initialised static.
            .map(|i| unsafe { core::ptr::read_volatile(&BLOCK[i]) })
            .collect()
    }
}
