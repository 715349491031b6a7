// Grants the component its output directory, as `--dir HOSTDIR::/out` does
// for the wasmtime CLI: Node's WASI shim starts with no preopens at all.
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';
_setPreopens({ '/out': process.env.RANGEGET_OUT_DIR });
