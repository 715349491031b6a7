// Grants the component its output directory, as `--dir HOSTDIR::/out` does
// for the wasmtime CLI: Node's WASI shim starts with no preopens at all.
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';
_setPreopens({ '/out': process.env.RANGEGET_OUT_DIR });

// Node's WASI shim writes the component's stdout from a worker thread, which
// hands it to this thread in messages; `process.exit` drops those not yet
// written (the last bytes of `-o -`). A successful exit waits until stdout
// has been quiet for a moment, so every message is written first.
const exit = process.exit.bind(process);
let lastWrite = Date.now();
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (...args) => {
  lastWrite = Date.now();
  return write(...args);
};
process.exit = (code) => {
  if (code) {
    exit(code);
  }
  process.exitCode = 0;
  const drained = () => (Date.now() - lastWrite > 100 ? exit(0) : setTimeout(drained, 20));
  setTimeout(drained, 20);
};
