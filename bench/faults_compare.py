#!/usr/bin/env python3
"""Runs the fault cases of tests/faults.rs and tests/download.rs against
rangeget, `curl -C -` and `aria2c -c`, so docs/RELIABILITY.md can show how
each fares next to the others.

    bench/faults_compare.py                 # every case; writes bench/FAULTS.md
    bench/faults_compare.py --cases truncate,stall --tools curl
    bench/faults_compare.py --list

It builds nothing: it runs ${CARGO_TARGET_DIR:-target}/release/{rangeget,
rangeget-test-origin} (target/debug when a release binary is missing; it
says which), and curl and aria2c from the system (installed with apt-get
when missing). It starts its own test origin on a free 127.0.0.1 port and
stops it at the end. Every run gets a fresh object name (the origin's "first
K requests misbehave" budgets are per name) and a fresh directory.

Outcomes:
  PASS   exit 0 and the file equals the object as the origin serves it now
         (fetched afterwards, without faults, with plain curl)
  OLD    exit 0 and the file is a complete, consistent copy of an earlier
         version of an object that was replaced: not corrupt, but not the
         object any more
  LOUD   non-zero exit, and no wrong file at the destination (a partial file
         whose bytes all agree with the object, zeros for holes, is noted)
  WRONG  a file at the destination whose bytes differ from the object
         (after exit 0, or left behind by a failure): a corrupt file
  HANG   still running after the per-run time limit; killed
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
RUN_LIMIT_S = 90  # per run; curl's own --max-time 60 gets to fire first
ORIGIN_LIFETIME_S = 3600
TOOLS = ("rangeget", "curl", "aria2c")
TOOL_TITLES = {"rangeget": "rangeget", "curl": "curl -C -", "aria2c": "aria2c -c"}


# --- binaries --------------------------------------------------------------


def project_binary(name: str) -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        candidate = target / profile / name
        if candidate.is_file():
            if profile == "debug":
                print(f"note: {target / 'release' / name} is missing; using {candidate}", file=sys.stderr)
            return candidate
    raise SystemExit(f"{name} not found under {target}/release or {target}/debug: run `cargo build --release`")


def ensure_system_tools() -> None:
    missing = [tool for tool in ("curl", "aria2c") if shutil.which(tool) is None]
    if not missing:
        return
    print(f"installing {', '.join(missing)} with apt-get", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, timeout=600, env=env)
    subprocess.run(["apt-get", "install", "-y", "aria2", "curl"], check=True, timeout=600, env=env)


def built_at(binary: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(binary.stat().st_mtime))


def version_line(argv: list[str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[0].strip() if out else "?"


# --- the origin's content, to tell versions apart ---------------------------
# A mirror of tests/origin/src/content.rs: content is a pure function of
# (name, version, offset), so an earlier version of a replaced object can be
# computed here even though the origin now serves only the newest. It is
# checked against the origin's own bytes before it is trusted.

MASK = (1 << 64) - 1
POOL_BYTES = 128 * 1024
SEGMENT = 4 * 1024
SEGMENT_STARTS = (POOL_BYTES - SEGMENT) // 8 + 1
SEGMENT_SALT = 0xA5A5_5A5A_C3C3_3C3C


def splitmix64(x: int) -> int:
    z = (x + 0x9E37_79B9_7F4A_7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & MASK
    return z ^ (z >> 31)


def fnv1a(data: bytes) -> int:
    h = 0xCBF2_9CE4_8422_2325
    for byte in data:
        h = ((h ^ byte) * 0x0100_0000_01B3) & MASK
    return h


def modelled_content(name: str, version: int, size: int) -> bytes:
    seed = splitmix64(fnv1a(name.encode()) ^ splitmix64(version))
    pool = b"".join(splitmix64(seed ^ i).to_bytes(8, "little") for i in range(POOL_BYTES // 8))
    out = bytearray(size)
    for segment in range((size + SEGMENT - 1) // SEGMENT):
        start = (splitmix64(seed ^ SEGMENT_SALT ^ segment) % SEGMENT_STARTS) * 8
        offset = segment * SEGMENT
        length = min(SEGMENT, size - offset)
        out[offset:offset + length] = pool[start:start + length]
    return bytes(out)


# --- the origin -------------------------------------------------------------


class Origin:
    def __init__(self, binary: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(binary), "--listen", f"127.0.0.1:{port}", "--exit-after", str(ORIGIN_LIFETIME_S)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"the test origin did not come up on {self.base}")
                time.sleep(0.05)

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.base}/_stats", timeout=5) as response:
            return json.load(response)

    def body_bytes_sent(self) -> int:
        return self.stats()["body_bytes_sent"]

    def replace(self, name: str) -> int:
        request = urllib.request.Request(f"{self.base}/_replace/{name}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)["version"]

    def reference(self, name: str, size: int, into: Path) -> bytes:
        """The object as it is now, fetched without faults by plain curl."""
        subprocess.run(
            ["curl", "-sS", "-f", "-o", str(into), f"{self.base}/o/{name}?size={size}"],
            check=True, timeout=120,
        )
        data = into.read_bytes()
        into.unlink()
        return data

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# --- tools ------------------------------------------------------------------


@dataclass
class Target:
    url: str
    directory: Path
    name: str

    @property
    def path(self) -> Path:
        return self.directory / self.name


def command(tool: str, binary: Path, target: Target, slow: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """What a careful user of each tool would type: retries on, resume on,
    HTTP errors fatal, and a 2 s stall limit where a server goes slow."""
    if tool == "rangeget":
        argv = [str(binary), target.url, "-o", str(target.path), "--retries", "5"]
        argv += ["--timeout", "2"] if slow else []
    elif tool == "curl":
        argv = ["curl", "-sS", "-f", "-L", "-C", "-", "--retry", "5", "--retry-delay", "1",
                "--max-time", "60", "-o", str(target.path), target.url]
        argv += ["--speed-time", "2", "--speed-limit", "1024"] if slow else []
    else:
        argv = ["aria2c", "-c", "-x4", "-s4", "-k1M", "--max-tries=5", "--retry-wait=1",
                "--allow-overwrite=false", "--auto-file-renaming=false", "--file-allocation=none",
                "-q", "-d", str(target.directory), "-o", target.name, target.url]
        argv += ["--timeout=2", "--lowest-speed-limit=1K"] if slow else []
    return argv + list(extra)


def tool_env(scratch: Path) -> dict:
    # No ~/.curlrc or ~/.aria2/aria2.conf of whoever runs the bench.
    return dict(os.environ, HOME=str(scratch))


@dataclass
class Run:
    code: int | None  # None: killed by us (HANG, or a deliberate kill -9)
    elapsed: float
    stderr_tail: str


# Tool processes not yet reaped, killed on the way out (Ctrl-C included).
LIVE: set[subprocess.Popen] = set()


def spawn(argv: list[str], env: dict) -> subprocess.Popen:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                               start_new_session=True)
    LIVE.add(process)
    return process


def kill_live() -> None:
    for process in LIVE:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    LIVE.clear()


def finish(process: subprocess.Popen, started: float, limit: float) -> Run:
    try:
        _, stderr = process.communicate(timeout=max(0.1, limit - (time.monotonic() - started)))
        code = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate(timeout=30)
        code = None
    LIVE.discard(process)
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return Run(code, time.monotonic() - started, lines[-1].strip()[:200] if lines else "")


def run_to_end(argv: list[str], env: dict, limit: float = RUN_LIMIT_S) -> Run:
    started = time.monotonic()
    return finish(spawn(argv, env), started, limit)


def run_then_kill(argv: list[str], env: dict, after: float) -> tuple[Run, bool]:
    """Runs `argv` and sends SIGKILL after `after` seconds; returns the run
    and whether it was really killed (False: it finished first)."""
    started = time.monotonic()
    process = spawn(argv, env)
    try:
        process.wait(timeout=after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        LIVE.discard(process)
        return Run(None, time.monotonic() - started, ""), True
    return finish(process, started, after), False


# --- judging the bytes ------------------------------------------------------


@dataclass
class Verdict:
    outcome: str
    detail: str = ""


def describe_blocks(data: bytes, expected: bytes, others: dict[int, bytes]) -> str:
    """Where `data` differs from the object, and which version each 4 KiB
    block that differs belongs to (the origin's content changes per block)."""
    counts: dict[str, int] = {}
    differing = 0
    first_difference = None
    for offset in range(0, len(data), SEGMENT):
        block = data[offset:offset + SEGMENT]
        want = expected[offset:offset + len(block)]
        if block == want:
            continue
        if first_difference is None:
            first_difference = offset + next(
                (i for i, (a, b) in enumerate(zip(block, want)) if a != b), len(want))
        differing += sum(1 for a, b in zip(block, want) if a != b) + len(block) - len(want)
        if any(block == old[offset:offset + len(block)] for old in others.values()):
            kind = "of an older version"
        elif block == bytes(len(block)):
            kind = "all zeros"
        elif any(a == b for a, b in zip(block[:64], want[:64])):
            kind = "partly right"
        else:
            kind = "unrelated"
        counts[kind] = counts.get(kind, 0) + 1
    blocks = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return (f"{differing} bytes differ, the first at offset {first_difference}; "
            f"4 KiB blocks that differ: {blocks}")


def judge(run: Run, path: Path, expected: bytes | None, others: dict[int, bytes]) -> Verdict:
    exists = path.is_file()
    data = path.read_bytes() if exists else b""
    code = "timeout" if run.code is None else f"exit {run.code}"
    if expected is None:  # no object to get (a redirect loop)
        if run.code == 0 or exists:
            return Verdict("WRONG", f"{code}, a {len(data)}-byte file at the destination")
        return Verdict("HANG" if run.code is None else "LOUD", code)
    if run.code == 0 and data == expected:
        return Verdict("PASS")
    for version, old in others.items():
        if run.code == 0 and data == old:
            return Verdict("OLD", f"exit 0, a complete copy of version {version}")
    if not exists:
        if run.code == 0:
            return Verdict("WRONG", "exit 0 but nothing at the destination")
        return Verdict("HANG" if run.code is None else "LOUD", code)
    consistent = len(data) <= len(expected) and all(
        block == expected[at:at + len(block)] or block == bytes(len(block))
        for at in range(0, len(data), SEGMENT)
        for block in [data[at:at + SEGMENT]]
    )
    if run.code != 0 and consistent:
        present = sum(
            1 for at in range(0, len(data), SEGMENT)
            if data[at:at + SEGMENT] == expected[at:at + len(data[at:at + SEGMENT])]
        ) * SEGMENT
        detail = (f"{code}, partial file left at the destination: {len(data)} bytes, "
                  f"{size_text(min(present, len(data)))} of {size_text(len(expected))} present, "
                  "the rest zeros or missing")
        return Verdict("HANG" if run.code is None else "LOUD", detail)
    blocks = describe_blocks(data, expected, others)
    return Verdict("WRONG", f"{code}, a {len(data)}-byte file (object: {len(expected)}): {blocks}")


# --- cases ------------------------------------------------------------------


@dataclass
class Case:
    key: str
    title: str
    size: int
    query: str = ""  # appended to ?size=N
    route: str = "o"  # "o", "ra/5" or "loop"
    slow: bool = False
    kind: str = "plain"  # plain | replaced | kill-loop | corrupt-control
    tools: tuple[str, ...] = TOOLS
    extra: dict = field(default_factory=dict)  # per-tool extra arguments
    kill_after: float = 1.2  # replaced / corrupt-control: seconds before the kill -9

    def url(self, base: str, name: str) -> str:
        if self.route == "loop":
            return f"{base}/loop/{name}"
        query = f"size={self.size}" + (f"&{self.query}" if self.query else "")
        return f"{base}/{self.route}/{name}?{query}"


CASES = [
    Case("ignore-range", "ignores Range, 200 with the whole body", 3 * MIB, "fault=ignore-range"),
    Case("no-accept-ranges", "no Accept-Ranges header", 3 * MIB, "fault=no-accept-ranges"),
    Case("accept-ranges-none", "Accept-Ranges: none, ranges ignored", 3 * MIB, "fault=accept-ranges-none"),
    Case("head-405", "HEAD answered 405", 2 * MIB + 7, "fault=head-405"),
    Case("head-403", "HEAD answered 403", 2 * MIB, "fault=head-403"),
    Case("no-length", "chunked, no Content-Length", 3 * MIB + 11, "fault=no-length"),
    Case("truncate", "body cut at half (3 times)", 2 * MIB, "fault=truncate&truncate_times=3"),
    Case("overlong", "4 KiB of garbage after each 206 body", 2 * MIB, "fault=overlong"),
    Case("long-length", "206 Content-Length 4 KiB past its Content-Range span", 2 * MIB, "fault=long-length"),
    Case("head-size", "HEAD states 1000 bytes, the 206 totals another size", 2 * MIB,
         "fault=head-size&head_size=1000"),
    Case("html-200", "200 HTML page instead of a range (2 times)", 2 * MIB, "fault=html-200&html_times=2"),
    Case("wrong-range", "range shifted by one byte (2 times)", 2 * MIB, "fault=wrong-range&wrong_times=2"),
    Case("status-416", "416 for a valid range (2 times)", MIB, "fault=status-416&status_times=2"),
    Case("stall", "headers, 1000 bytes, then silence (2 times)", MIB,
         "fault=stall&stall_times=2&stall_after=1000", slow=True),
    Case("trickle", "trickle at 300 B/s (expect LOUD)", MIB, "fault=trickle&trickle_rate=300", slow=True),
    Case("status-503", "503 + Retry-After: 1 (2 times)", MIB, "fault=status-503&status_times=2&retry_after=1"),
    Case("status-429", "429 + Retry-After as an HTTP-date", MIB,
         "fault=status-429&retry_after=2&retry_after_date=1"),
    Case("status-500", "500 (3 times)", MIB, "fault=status-500&status_times=3"),
    Case("redirect-chain", "5 absolute redirects (301, 302, 303, 307, 308)", 3 * MIB, route="ra/5"),
    Case("redirect-loop", "redirect loop (expect LOUD)", MIB, route="loop"),
    Case("change-after", "replaced mid-download, same size", 4 * MIB, f"fault=change-after&change_after={MIB}"),
    Case("replaced", "replaced between runs (kill -9, replace, rerun)", 8 * MIB, "fault=throttle&rate=1M",
         kind="replaced"),
    # aria2c writes its control file at the start, then only every
    # --auto-save-interval (60 s): killed sooner, it starts over. With 1 s it
    # really resumes, which is what this variant checks.
    Case("replaced-autosave", "same, aria2c --auto-save-interval=1, killed after 2.5 s", 8 * MIB,
         "fault=throttle&rate=512K", kind="replaced", tools=("aria2c",),
         extra={"aria2c": ("--auto-save-interval=1",)}, kill_after=2.5),
    Case("kill-loop", "kill -9 up to 20 times, then finish", 64 * MIB, "fault=throttle&rate=8M",
         kind="kill-loop"),
    # At 8 MiB/s per response rangeget and aria2c (4 connections) need ~2 s,
    # so few kills land; at 1 MiB/s all three take all 20.
    Case("kill-loop-1M", "kill -9 20 times at 1 MiB/s per response, then finish", 64 * MIB,
         "fault=throttle&rate=1M", kind="kill-loop"),
    Case("kill-loop-autosave", "same, aria2c --auto-save-interval=1", 64 * MIB, "fault=throttle&rate=8M",
         kind="kill-loop", tools=("aria2c",), extra={"aria2c": ("--auto-save-interval=1",)}),
    Case("corrupt-control", "kill -9, control file overwritten with garbage, rerun", 8 * MIB,
         "fault=throttle&rate=1M", kind="corrupt-control"),
    Case("corrupt-control-autosave", "same, aria2c --auto-save-interval=1, killed after 2.5 s", 8 * MIB,
         "fault=throttle&rate=512K", kind="corrupt-control", tools=("aria2c",),
         extra={"aria2c": ("--auto-save-interval=1",)}, kill_after=2.5),
]

KILLS = 20
KILL_SEED = 42
GARBAGE = b"\x00garbage\xff" * 100


@dataclass
class Result:
    verdict: Verdict
    elapsed: float
    sent: int
    note: str = ""


def control_file(tool: str, target: Target) -> Path | None:
    if tool == "rangeget":
        return target.directory / f"{target.name}.part.meta"
    if tool == "aria2c":
        return target.directory / f"{target.name}.aria2"
    return None


def run_case(case: Case, tool: str, origin: Origin, binaries: dict, scratch: Path) -> Result:
    name = f"{case.key}-{tool}.bin"
    directory = Path(tempfile.mkdtemp(prefix=f"{case.key}-{tool}-", dir=scratch))
    try:
        target = Target(case.url(origin.base, name), directory, name)
        argv = command(tool, binaries["rangeget"], target, case.slow, case.extra.get(tool, ()))
        env = tool_env(scratch)
        sent_before = origin.body_bytes_sent()
        started = time.monotonic()
        note = ""
        if case.kind == "plain":
            run = run_to_end(argv, env)
        elif case.kind == "replaced":
            first, killed = run_then_kill(argv, env, case.kill_after)
            note = "" if killed else f"first run ended before the kill (exit {first.code})"
            version = origin.replace(name)
            note = "; ".join(filter(None, [note, f"replaced with version {version} after the kill"]))
            run = run_to_end(argv, env)
        elif case.kind == "corrupt-control":
            first, killed = run_then_kill(argv, env, case.kill_after)
            note = "" if killed else f"first run ended before the kill (exit {first.code}); "
            control = control_file(tool, target)
            if control is None:
                # curl keeps no control file: rot the partial file's tail instead.
                partial = target.path
                if partial.is_file() and partial.stat().st_size:
                    length = partial.stat().st_size
                    with open(partial, "r+b") as handle:
                        handle.seek(max(0, length - 1000))
                        handle.write(bytes(min(1000, length)))
                    note += f"no control file: zeroed the last 1000 of {length} bytes of the partial file"
                else:
                    note += "no partial file to damage"
            else:
                existed = control.is_file()
                control.write_bytes(GARBAGE)
                note += f"{control.name} {'overwritten' if existed else 'did not exist; written'} with garbage"
            run = run_to_end(argv, env)
        else:  # kill-loop
            schedule = random.Random(KILL_SEED)
            kills = 0
            while True:
                if kills == KILLS:
                    run = run_to_end(argv, env)
                    break
                run, killed = run_then_kill(argv, env, schedule.uniform(0.3, 1.5))
                if not killed:
                    break
                kills += 1
                if target.path.is_file() and tool == "rangeget":
                    note = f"a file at the destination after kill {kills}; "
            note += f"{kills} kills"
        elapsed = time.monotonic() - started
        sent = origin.body_bytes_sent() - sent_before
        if case.route == "loop":
            expected, others = None, {}
        else:
            expected = origin.reference(name, case.size, scratch / f"reference-{name}")
            others, model_note = older_versions(name, case.size, expected)
            if model_note:
                note = "; ".join(filter(None, [note, model_note]))
        verdict = judge(run, target.path, expected, others)
        if case.kind == "kill-loop" and expected is not None:
            note += f"; origin sent {100 * (sent - case.size) / case.size:+.1f}% of the size"
        if run.stderr_tail and verdict.outcome != "PASS":
            note = "; ".join(filter(None, [note, f"stderr: {run.stderr_tail}"]))
        return Result(verdict, elapsed, sent, note)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def older_versions(name: str, size: int, reference: bytes) -> tuple[dict[int, bytes], str]:
    """Earlier versions of a replaced object, from the content model, once
    the model reproduces the origin's current bytes."""
    for version in range(0, 4):
        if modelled_content(name, version, size) == reference:
            return {v: modelled_content(name, v, size) for v in range(version)}, ""
    return {}, "content model disagrees with the origin: older versions not identified"


# --- report -----------------------------------------------------------------


def cell(result: Result | None) -> str:
    if result is None:
        return "—"
    return f"{result.verdict.outcome} {result.elapsed:.1f} s, {size_text(result.sent)}"


def size_text(count: int) -> str:
    if count < MIB:
        return f"{count / 1024:.1f} KiB"
    return f"{count / MIB:.1f} MiB"


def template(tool: str, slow: bool, binary: Path) -> str:
    target = Target("URL", Path("DIR"), "NAME")
    argv = command(tool, binary, target, slow)
    argv[0] = tool if tool != "rangeget" else "rangeget"
    return " ".join(argv).replace("DIR/NAME", "FILE")


def report(results: dict, cases: list[Case], tools: list[str], versions: list[str], binaries: dict) -> str:
    lines = [
        "# Fault cases: rangeget, curl -C -, aria2c -c",
        "",
        f"Produced by `bench/faults_compare.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        "against the project's test origin on 127.0.0.1 "
        f"(`{binaries['origin'].relative_to(ROOT) if binaries['origin'].is_relative_to(ROOT) else binaries['origin']}`).",
        "",
        "Versions: " + "; ".join(f"`{v}`" for v in versions) + ".",
        "",
        "Commands (FILE = DIR/NAME, a fresh directory per run; the cases marked *slow* add the "
        "second set of flags):",
        "",
    ]
    for tool in tools:
        slow_flags = {"rangeget": "--timeout 2", "curl": "--speed-time 2 --speed-limit 1024",
                      "aria2c": "--timeout=2 --lowest-speed-limit=1K"}[tool]
        lines.append(f"- {TOOL_TITLES[tool]}: `{template(tool, False, binaries['rangeget'])}`; slow: `{slow_flags}`")
    lines += [
        "",
        "Each cell: outcome, wall time (all runs of the case), body bytes the origin sent "
        f"(all runs of the case). Per-run limit {RUN_LIMIT_S} s. "
        "PASS: exit 0, byte-exact. OLD: exit 0, a complete copy of the version before the object "
        "was replaced (not corrupt, but stale). LOUD: non-zero exit and no wrong file at the "
        "destination (a correct partial file may be left; see the notes). WRONG: a file at the "
        "destination whose bytes differ from the object. HANG: killed at the limit.",
        "",
        "| case | URL | " + " | ".join(TOOL_TITLES[t] for t in tools) + " |",
        "| --- | --- | " + " | ".join("---" for _ in tools) + " |",
    ]
    for case in cases:
        url = f"`{case.url('', 'NAME').lstrip('/')}`" + (" *slow*" if case.slow else "")
        row = [f"{case.title} (`{case.key}`)", url] + [cell(results.get((case.key, t))) for t in tools]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Notes", ""]
    for case in cases:
        for tool in tools:
            result = results.get((case.key, tool))
            if result is None:
                continue
            text = "; ".join(filter(None, [result.verdict.detail, result.note]))
            if result.verdict.outcome != "PASS" or case.kind != "plain":
                lines.append(f"- `{case.key}`, {TOOL_TITLES[tool]}: **{result.verdict.outcome}**"
                             + (f" — {text}" if text else ""))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated case keys (default: all)")
    parser.add_argument("--tools", help="comma-separated: rangeget,curl,aria2c (default: all)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not write bench/FAULTS.md")
    args = parser.parse_args()
    if args.list:
        for case in CASES:
            print(f"{case.key:20} {case.title}")
        return
    cases = [c for c in CASES if not args.cases or c.key in args.cases.split(",")]
    tools = [t for t in TOOLS if not args.tools or t in args.tools.split(",")]

    ensure_system_tools()
    binaries = {"rangeget": project_binary("rangeget"), "origin": project_binary("rangeget-test-origin")}
    print(f"rangeget: {binaries['rangeget']}\norigin:   {binaries['origin']}", file=sys.stderr)
    versions = [version_line([str(binaries["rangeget"]), "--version"])
                + f" ({binaries['rangeget'].parent.name} build of {built_at(binaries['rangeget'])})",
                version_line(["curl", "--version"]).split(" (")[0],
                version_line(["aria2c", "--version"])]

    results: dict[tuple[str, str], Result] = {}
    scratch = Path(tempfile.mkdtemp(prefix="rangeget-faults-compare-"))
    origin = None
    try:
        # Run copies: a cargo build elsewhere may replace target/ mid-run.
        (scratch / "bin").mkdir()
        runnable = {key: Path(shutil.copy2(path, scratch / "bin" / path.name)) for key, path in binaries.items()}
        origin = Origin(runnable["origin"])
        for case in cases:
            for tool in tools:
                if tool not in case.tools:
                    continue
                try:
                    result = run_case(case, tool, origin, runnable, scratch)
                except Exception as error:  # one broken run must not lose the others
                    result = Result(Verdict("ERROR", f"the bench failed: {error!r}"), 0.0, 0)
                results[(case.key, tool)] = result
                print(f"{case.key:20} {tool:9} {cell(result):32} {result.verdict.detail} {result.note}".rstrip(),
                      file=sys.stderr, flush=True)
    finally:
        kill_live()
        if origin is not None:
            origin.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    text = report(results, cases, tools, versions, binaries)
    print(text)
    if not args.no_write:
        (ROOT / "bench" / "FAULTS.md").write_text(text)
        print(f"written to {ROOT / 'bench' / 'FAULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
