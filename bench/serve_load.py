#!/usr/bin/env python3
"""`rangeget serve` under many hostile or slow clients: its peak RSS and
open file descriptors, what the clients were answered, and whether a normal
request still gets through meanwhile.

    bench/serve_load.py                          # 1,000 clients reading 50 KB/s, 60 s
    bench/serve_load.py --read 0                 # 1,000 clients that never read
    bench/serve_load.py --mode half-head         # 1,000 connections that never finish their head
    bench/serve_load.py --rangeget /path/to/older/rangeget --label before
    bench/serve_load.py -- --max-clients 32      # flags after -- go to `rangeget serve`

Python 3.11, standard library only. It builds nothing: it runs
${CARGO_TARGET_DIR:-target}/release/{rangeget,rangeget-test-origin}
(target/debug when a release binary is missing; it says which), starts its
own test origin and `rangeget serve` on free 127.0.0.1 ports, and stops
both at the end. Each client opens its own connection and sends one GET
for a 1 GiB object; then it reads at `--read` bytes per second (0: never).
The RSS is the serve process's VmHWM; the run stops early, saying so, if
its RSS passes `--rss-limit-mib`. It prints one Markdown row.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK_S = 0.1


def project_binary(name: str) -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        candidate = target / profile / name
        if candidate.is_file():
            if profile == "debug":
                print(f"note: {target / 'release' / name} is missing; using {candidate}", file=sys.stderr)
            return candidate
    raise SystemExit(f"{name} not found under {target}/release or {target}/debug: run `cargo build --release`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def parse_rate(text: str) -> int:
    units = {"": 1, "K": 1000, "M": 1000_000}
    m = re.fullmatch(r"(\d+)([KM]?)", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate like 50K")
    return int(m.group(1)) * units[m.group(2)]


class Serve:
    """`rangeget serve` and what /proc says of it."""

    def __init__(self, rangeget: str, origin_port: int, flags: list[str]):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [rangeget, "serve", "--origin", f"http://127.0.0.1:{origin_port}/o",
             "--listen", f"127.0.0.1:{self.port}", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        wait_for_port(self.port)

    def status(self, field: str) -> int:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+)", text).group(1))

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> str:
        """Stops it; returns its stderr."""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


class Client:
    """One connection: its request sent, its answer read at a set pace."""

    def __init__(self, port: int, head: bytes):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(head)
        self.sock.setblocking(False)
        self.head = b""
        self.status: str | None = None
        self.closed = False
        self.budget = 0.0

    def look(self, reads: bool, allowance: float) -> int:
        """Reads up to `allowance` more bytes (or, when it never reads,
        peeks at the status line); returns the bytes consumed."""
        if self.closed:
            return 0
        consumed = 0
        try:
            if not reads:
                if self.status is None:
                    peek = self.sock.recv(64, socket.MSG_PEEK)
                    if not peek:
                        self.closed = True
                    elif b"\r\n" in peek:
                        self.status = peek.split(b" ")[1].decode()
                return 0
            self.budget += allowance
            while self.budget >= 1:
                data = self.sock.recv(min(int(self.budget), 65536))
                if not data:
                    self.closed = True
                    break
                consumed += len(data)
                self.budget -= len(data)
                if self.status is None:
                    self.head += data[:64]
                    if b"\r\n" in self.head:
                        self.status = self.head.split(b" ")[1].decode()
        except BlockingIOError:
            self.budget = min(self.budget, allowance)
        except OSError:
            self.closed = True
        return consumed


def probe(port: int) -> str:
    """A normal request while the load is on: its status and its time."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /o-probe.bin?size=4096 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(30)
            first = s.recv(64)
            status = first.split(b" ")[1].decode() if first else "closed"
    except OSError as e:
        status = type(e).__name__
    return f"{status} in {time.monotonic() - started:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--read", type=parse_rate, default=parse_rate("50K"),
                        help="bytes per second each client reads (0: never reads); default 50K")
    parser.add_argument("--mode", choices=("get", "half-head"), default="get",
                        help="get: a whole GET each; half-head: half a request head, never finished")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rangeget", help="the rangeget binary (default: this tree's build)")
    parser.add_argument("--label", default="", help="names the build in the row")
    parser.add_argument("--probe-at", type=float, help="seconds into the run (default: half-way)")
    parser.add_argument("--rss-limit-mib", type=int, default=6144)
    parser.add_argument("flags", nargs="*", help="after --: flags for `rangeget serve`")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rangeget = args.rangeget or str(project_binary("rangeget"))
    origin_port = free_port()
    origin = subprocess.Popen(
        [str(project_binary("rangeget-test-origin")), "--listen", f"127.0.0.1:{origin_port}",
         "--exit-after", "3600"], stdout=subprocess.DEVNULL)
    wait_for_port(origin_port)
    serve = Serve(rangeget, origin_port, args.flags)
    clients: list[Client] = []
    peak_fds = 0
    stopped = ""
    try:
        if args.mode == "get":
            head = b"GET /load.bin?size=1G HTTP/1.1\r\nHost: x\r\n\r\n"
        else:
            head = b"GET /load.bin?size=1G HTTP/1.1\r\nHost: x\r\n"
        for _ in range(args.clients):
            clients.append(Client(serve.port, head))
        reads = args.mode == "get" and args.read > 0
        started = time.monotonic()
        next_sample = started
        probe_at = started + (args.probe_at if args.probe_at is not None else args.seconds / 2)
        probed: list[str] = []
        prober = threading.Thread(target=lambda: probed.append(probe(serve.port)), daemon=True)
        while time.monotonic() - started < args.seconds:
            tick = time.monotonic()
            for client in clients:
                client.look(reads, args.read * TICK_S)
            if tick >= next_sample:
                peak_fds = max(peak_fds, serve.open_fds())
                if serve.status("VmRSS") // 1024 > args.rss_limit_mib:
                    stopped = f" (stopped at {time.monotonic() - started:.0f} s: RSS over {args.rss_limit_mib} MiB)"
                    break
                next_sample = tick + 0.5
            if tick >= probe_at and not prober.is_alive() and not probed:
                prober.start()
            time.sleep(max(0.0, TICK_S - (time.monotonic() - tick)))
        elapsed = time.monotonic() - started
        prober.join(timeout=0)
        peak_rss = serve.status("VmHWM") / 1024
        open_at_end = serve.open_fds()
    finally:
        for client in clients:
            client.sock.close()
        log = serve.stop()
        origin.terminate()
        origin.wait(timeout=10)
    answers: dict[str, int] = {}
    for client in clients:
        key = client.status or ("closed, no answer" if client.closed else "no answer yet")
        answers[key] = answers.get(key, 0) + 1
    closed = sum(c.closed for c in clients)
    what = (f"{args.clients} × GET, reading {args.read // 1000} KB/s" if reads
            else f"{args.clients} × GET, never reading" if args.mode == "get"
            else f"{args.clients} × half a head")
    answered = ", ".join(f"{n} {k}" for k, n in sorted(answers.items()))
    print(f"| {args.label or rangeget} | {' '.join(args.flags) or 'defaults'} | {what} | {elapsed:.0f}{stopped} "
          f"| {peak_rss:.0f} | {peak_fds} | {open_at_end} | {answered}; {closed} closed by the server | {probed[0] if probed else 'no answer by the end'} |")
    busy = [line for line in log.splitlines() if "turned a client away" in line or "file descriptors" in line]
    if busy:
        print(f"log: {len(busy)} such lines, e.g. {busy[0]}", file=sys.stderr)


if __name__ == "__main__":
    main()
