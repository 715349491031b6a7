// wasi:config/store for `jco serve`: Node's WASI shim has no wasi:config,
// so the proxy component's settings come from here, mapped in with
// `--jco-map wasi:config/store=./config-store.mjs`. The settings are the
// RANGEGET_CONFIG_* environment variables of the `jco serve` process
// (RANGEGET_CONFIG_ORIGIN=… becomes ORIGIN=…), as a host's configuration.
const PREFIX = 'RANGEGET_CONFIG_';

const settings = () =>
  Object.entries(process.env)
    .filter(([key]) => key.startsWith(PREFIX))
    .map(([key, value]) => [key.slice(PREFIX.length), value]);

export function get(key) {
  return settings().find(([k]) => k === key)?.[1];
}

export function getAll() {
  return settings();
}
