#!/usr/bin/env python3
"""The fault cases of docs/RELIABILITY.md, run against rangeget, `curl -C -`
and `aria2c -c`, so the table can show how each tool fares.

Outcomes:
  PASS     exit 0 and the file equals the object
  LOUD     non-zero exit and nothing at the destination
  PARTIAL  non-zero exit, but a partial file was left at the destination
  WRONG    exit 0 (or a file at the destination) whose bytes differ: corrupt
  HANG     still running after the time limit

    bench/fault_matrix.py            # prints the table, writes bench/FAULTS.md

Needs target/release/{rangeget,rangeget-test-origin} (bench/setup), curl and aria2c.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
RANGEGET = TARGET / "release" / "rangeget"
ORIGIN = TARGET / "release" / "rangeget-test-origin"
LIMIT_S = 60
MIB = 1 << 20

# (case, query or path, size, slow: tools get a 2 s stall timeout)
CASES = [
    ("ignores Range (200 full body)", "fault=ignore-range", 3 * MIB, False),
    ("no Accept-Ranges", "fault=no-accept-ranges", 3 * MIB, False),
    ("Accept-Ranges: none", "fault=accept-ranges-none", 3 * MIB, False),
    ("HEAD answered 405", "fault=head-405", 3 * MIB, False),
    ("chunked, no Content-Length", "fault=no-length", 3 * MIB, False),
    ("body cut short (3 times)", "fault=truncate&truncate_times=3", 3 * MIB, False),
    ("body longer than the range", "fault=overlong", 3 * MIB, False),
    ("HTML page instead of a range (2 times)", "fault=html-200&html_times=2", 3 * MIB, False),
    ("shifted Content-Range (2 times)", "fault=wrong-range&wrong_times=2", 3 * MIB, False),
    ("416 (2 times)", "fault=status-416&status_times=2", 3 * MIB, False),
    ("headers then silence (2 times)", "fault=stall&stall_times=2&stall_after=1000", 3 * MIB, True),
    ("trickle at 300 B/s", "fault=trickle&trickle_rate=300", MIB, True),
    ("503 + Retry-After: 1 (2 times)", "fault=status-503&status_times=2&retry_after=1", 3 * MIB, False),
    ("500 (3 times)", "fault=status-500&status_times=3", 3 * MIB, False),
    ("replaced mid-download, same size", "fault=change-after&change_after=1048576", 3 * MIB, False),
    ("redirect chain (5 absolute hops)", "/ra/5", 3 * MIB, False),
    ("redirect loop", "/loop", 3 * MIB, False),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(tool, url, path, slow):
    if tool == "rangeget":
        argv = [str(RANGEGET), url, "-o", str(path), "--retries", "5"]
        return argv + (["--timeout", "2"] if slow else [])
    if tool == "curl -C -":
        argv = ["curl", "-sS", "-f", "-L", "-C", "-", "--retry", "5", "--retry-delay", "1", "-o", str(path), url]
        return argv + (["--speed-time", "2", "--speed-limit", "1024"] if slow else [])
    argv = [
        "aria2c", "-c", "-x4", "-s4", "-k1M", "--max-tries=5", "--retry-wait=1", "-q",
        "--allow-overwrite=false", "--auto-file-renaming=false", "--file-allocation=none",
        "-d", str(path.parent), "-o", path.name, url,
    ]
    return argv + (["--timeout=2", "--lowest-speed-limit=1K"] if slow else [])


def consistent_old_version(data, new):
    """True when no 64 KiB block of `data` equals the new version's block at
    the same offset: a complete copy of the object as it was before it was
    replaced (not a splice of two versions)."""
    block = 64 * 1024
    if len(data) != len(new):
        return False
    return all(data[i:i + block] != new[i:i + block] for i in range(0, len(data), block))


def outcome(code, path, expected):
    if code is None:
        return "HANG"
    exists = path.exists()
    data = path.read_bytes() if exists else b""
    same = exists and data == expected
    if code == 0 and not same and consistent_old_version(data, expected):
        return "PASS (old version)"
    if code == 0:
        return "PASS" if same else "WRONG"
    if not exists:
        return "LOUD"
    return "WRONG" if path.stat().st_size == len(expected) and not same else "PARTIAL"


def main():
    for binary in (RANGEGET, ORIGIN):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run bench/setup")
    port = free_port()
    origin = subprocess.Popen([str(ORIGIN), "--listen", f"127.0.0.1:{port}", "--exit-after", "1800"],
                              stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix="rangeget-faults-"))
    tools = ["rangeget", "curl -C -", "aria2c -c"]
    rows = []
    try:
        time.sleep(0.3)
        for index, (case, fault, size, slow) in enumerate(CASES):
            row = [case]
            for tool in tools:
                # A fresh object name per run: "first K requests" faults are per name.
                name = f"c{index}-{tools.index(tool)}.bin"
                if fault.startswith("/"):
                    url = f"{base}{fault}/{name}?size={size}" if fault != "/loop" else f"{base}/loop/{name}"
                else:
                    url = f"{base}/o/{name}?size={size}&{fault}"
                path = scratch / name
                started = time.monotonic()
                try:
                    code = subprocess.run(command(tool, url, path, slow), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, timeout=LIMIT_S).returncode
                except subprocess.TimeoutExpired:
                    code = None
                elapsed = time.monotonic() - started
                # The object as it is now (a replaced one is at its new version).
                with urllib.request.urlopen(f"{base}/o/{name}?size={size}") as r:
                    expected = r.read()
                result = outcome(code, path, expected)
                row.append(f"{result} ({elapsed:.1f} s)")
                for leftover in scratch.iterdir():
                    leftover.unlink()
            rows.append(row)
            print(" | ".join(row), flush=True)
    finally:
        origin.terminate()
        shutil.rmtree(scratch, ignore_errors=True)
    versions = []
    for argv in (["curl", "--version"], ["aria2c", "--version"], [str(RANGEGET), "--version"]):
        versions.append(subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0])
    lines = [
        "# Fault cases: rangeget, curl -C -, aria2c -c",
        "",
        f"Produced by `bench/fault_matrix.py` on {time.strftime('%Y-%m-%d', time.gmtime())} "
        f"({'; '.join(versions)}). Each run starts fresh against the project's test origin.",
        "",
        "PASS: exit 0, byte-exact (\"old version\": a complete copy of the object from before it was replaced). LOUD: non-zero exit, nothing at the destination. PARTIAL: non-zero exit "
        "with a partial file left at the destination. WRONG: a file at the destination with the wrong bytes. "
        "HANG: over 60 s.",
        "",
        "| case | " + " | ".join(tools) + " |",
        "| --- | " + " | ".join("---" for _ in tools) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "FAULTS.md").write_text(text)
    print(f"\nwritten to {ROOT / 'bench' / 'FAULTS.md'}")


if __name__ == "__main__":
    main()
