//! Settings built into a plugin (`rangeget plugin`): for hosts that grant
//! the `wasi:http/proxy` world and nothing else, not even `wasi:config`.
//!
//! The plugin build of the component (feature `baked-settings`) carries a
//! fixed-size block in its data: [`MARKER`] followed by [`ROOM`] bytes,
//! zero in the template. `rangeget plugin` writes the settings into that
//! block ([`patch`]), as `KEY=VALUE` lines; the component reads them back
//! ([`unbake`]). The block's size never changes, so nothing else in the
//! binary moves, and the result is the template with those bytes replaced:
//! the same code, the settings in its data, no import to ask for them.

/// What precedes the settings block; found exactly once in the template.
pub const MARKER: &[u8; 32] = b"rangeget-plugin-settings:v1\n\0\0\0\0";
/// Bytes for the settings after the marker.
pub const ROOM: usize = 2048;

/// The settings as the block holds them: `KEY=VALUE` lines, zero-padded
/// to [`ROOM`] bytes.
pub fn bake(settings: &[(String, String)]) -> Result<Vec<u8>, String> {
    let mut block = Vec::with_capacity(ROOM);
    for (key, value) in settings {
        let clean = |s: &str| !s.contains(['\n', '\0']);
        if !clean(key) || !clean(value) || key.contains('=') {
            return Err(format!("setting {key:?} cannot be built into a plugin"));
        }
        block.extend_from_slice(format!("{key}={value}\n").as_bytes());
    }
    if block.len() > ROOM {
        return Err(format!(
            "the settings take {} bytes; a plugin has room for {ROOM}",
            block.len()
        ));
    }
    block.resize(ROOM, 0);
    Ok(block)
}

/// The settings in `block` (up to its first zero byte).
pub fn unbake(block: &[u8]) -> Vec<(String, String)> {
    let end = block.iter().position(|&b| b == 0).unwrap_or(block.len());
    String::from_utf8_lossy(&block[..end])
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `template` (the plugin build) with `settings` built in.
pub fn patch(template: &[u8], settings: &[(String, String)]) -> Result<Vec<u8>, String> {
    let found: Vec<usize> = template
        .windows(MARKER.len())
        .enumerate()
        .filter(|(_, w)| w == MARKER)
        .map(|(at, _)| at)
        .collect();
    let [at] = found[..] else {
        return Err(format!(
            "the plugin template has {} settings blocks, not one: it was not built with \
             `--features baked-settings`",
            found.len()
        ));
    };
    let start = at + MARKER.len();
    let block = template
        .get(start..start + ROOM)
        .ok_or("the plugin template ends inside its settings block")?;
    if block.iter().any(|&b| b != 0) {
        return Err("the plugin template already has settings built in".into());
    }
    let mut plugin = template.to_vec();
    plugin[start..start + ROOM].copy_from_slice(&bake(settings)?);
    Ok(plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn template() -> Vec<u8> {
        let mut t = b"code before".to_vec();
        t.extend_from_slice(MARKER);
        t.extend_from_slice(&[0; ROOM]);
        t.extend_from_slice(b"code after");
        t
    }

    #[test]
    fn settings_go_into_the_block_and_come_back_out() {
        let settings = pairs(&[
            ("ORIGIN", "https://cdn.example/files"),
            ("CONNECTIONS", "8"),
        ]);
        let plugin = patch(&template(), &settings).unwrap();
        assert_eq!(plugin.len(), template().len(), "nothing moves");
        assert!(plugin.ends_with(b"code after") && plugin.starts_with(b"code before"));
        let at = plugin
            .windows(MARKER.len())
            .position(|w| w == MARKER)
            .unwrap();
        let block = &plugin[at + MARKER.len()..][..ROOM];
        assert_eq!(unbake(block), settings);
        assert!(unbake(&[0; ROOM]).is_empty());
    }

    #[test]
    fn what_cannot_be_built_in_is_refused() {
        let patched = patch(&template(), &pairs(&[("ORIGIN", "http://h")])).unwrap();
        assert!(patch(&patched, &pairs(&[("ORIGIN", "http://h")]))
            .unwrap_err()
            .contains("already"));
        assert!(patch(b"no marker here", &[])
            .unwrap_err()
            .contains("0 settings blocks"));
        let long = "x".repeat(ROOM);
        assert!(bake(&pairs(&[("ORIGIN", &long)]))
            .unwrap_err()
            .contains("room"));
        assert!(bake(&pairs(&[("ORIGIN", "a\nCONNECTIONS=64")])).is_err());
    }
}
