//! Where the proxy's settings come from: `wasi:config/store`, the
//! interface edge platforms give components their configuration through
//! (wasmCloud, Spin's variables; `wasmtime serve -S config-var=K=V`;
//! `rangeget serve` from its flags). Not the environment: the proxy world
//! has none, and wasmCloud starts components with it empty.

use crate::config::ProxyConfig;

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

use bindings::wasi::config::store::{self, Error};

/// The settings the host holds for this component, checked.
pub fn read() -> Result<ProxyConfig, String> {
    let pairs = store::get_all().map_err(|error| {
        let detail = match error {
            Error::Upstream(text) | Error::Io(text) => text,
        };
        format!("its host could not give it its settings (wasi:config/store): {detail}")
    })?;
    ProxyConfig::from_vars(pairs)
}
