"""Instructions per request, counted by valgrind: a cost measure that does not drift with the VM.

On this kind of machine CPU time per request moves by ±30 % from one minute to the next, which
hides any change smaller than that. This script counts user-space instructions instead, which
are the same from run to run (to about 0.2 %): for each scenario kind it runs, in one process,
a raw backend, lychgate's own server (the real ``HttpConnection`` protocol, pipeline and upstream
pool, as ``lychgate serve`` wires them, with its garbage-collector settings) and a closed-loop
client on 32 connections sending the requests of ``bench/run.py``'s scenario, under
``valgrind --tool=cachegrind --cache-sim=no``, twice: for N1 and for N2 requests. The difference
divided by N2 − N1 is the instructions of one request, start-up and warm-up excluded; it
includes the client and backend (about 15k, printed as "direct"), and not the kernel's side of
the sockets. Read the differences between kinds:
``added`` is what authorization costs over NONE. Instructions are not time (cache misses and
system calls are not in them), so ``run.py`` stays the measure of throughput; this one tells
whether a change made the code cheaper. Needs ``valgrind`` (Debian package); installs nothing.

    python bench/instructions.py [--kinds none,lambda,iam,iam-unique,token,jwt,apikey,redis] [--requests 1000,3000]
    python bench/instructions.py --kinds none --requests 0,5000 --callgrind /tmp/none.callgrind
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

BENCH = Path(__file__).resolve().parent
KINDS = {"direct": None, "none": None, "lambda": None, "iam": "iam", "iam-unique": "iam", "token": "token",
         "jwt": "jwt", "apikey": "apikey", "redis": "apikey"}
"""Scenario kind -> the authorization of ``harness.auth``; ``lambda`` is scenario (d), the in-process
handler of ``projects/lambda``; ``redis`` is ``apikey`` with its state in a redis-server (started
here, outside valgrind: only the gateway's side is counted); ``iam-unique`` is ``iam`` with every
request signed once (UNIQUE_REQUESTS in turn, more than SigV4's caches keep): the cost of
verifying a request whose canonical form and signature nothing remembers."""
UNIQUE_REQUESTS = 4096
ANSWER = b'{"ok":true,"service":"backend","message":"hello from the bench backend","id":"a1b2c3d4e5f60718","n":42}'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
WARM_UP = 300
CONNECTIONS = 32


def count(kind: str, requests: int, work: Path) -> int:
    """Instructions of one child run serving ``requests`` requests after warm-up."""
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, __file__, "--child", kind, str(requests), str(work)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=_child_environment())
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"instructions.py: {kind} ({requests} requests) failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def profile(kind: str, requests: int, work: Path, out: Path, top: int = 40) -> None:
    """A callgrind profile of ``requests`` requests after warm-up (dumped apart at the child's
    ``getpgid`` marker), and its C functions by own instructions per request: which of them (the
    interpreter's eval loop, dict lookups, allocation, uvloop, httptools) the requests cost."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-before=getpgid",
           "--compress-strings=no", "--compress-pos=no",
           sys.executable, __file__, "--child", kind, str(requests), str(work)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=_child_environment())
    if done.returncode != 0:
        raise SystemExit(f"instructions.py: {kind} under callgrind failed:\n{done.stderr[-2000:]}")
    own = _own_instructions(out)
    total = sum(own.values())
    print(f"{out}: {total / requests:,.0f} instructions per request; own instructions per request by function:")
    for name, count in sorted(own.items(), key=lambda item: -item[1])[:top]:
        print(f"{count / requests:10,.0f} {100 * count / total:5.1f} %  {name}")


def _own_instructions(path: Path) -> dict[str, int]:
    """Own (exclusive) instructions per function of an uncompressed callgrind file: the cost lines
    under ``fn=``, less the inclusive cost lines that follow each ``calls=``."""
    own: dict[str, int] = {}
    function, library, after_call = None, "", False
    with open(path) as lines:
        for line in lines:
            if line.startswith("ob="):
                library = line[3:].strip().rsplit("/", 1)[-1]
            elif line.startswith("fn="):
                function = f"{line[3:].strip()} [{library}]"
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                elif function is not None:
                    fields = line.split()
                    if len(fields) >= 2:
                        own[function] = own.get(function, 0) + int(fields[1])
    return own


def _child_environment() -> dict[str, str]:
    """The child's environment: a fixed hash seed (unless one is set), since string hashing moves
    a kind's count by about ±2k from one seed to another."""
    return {**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="direct,none,iam,token,jwt,apikey")
    parser.add_argument("--requests", default="1000,3000", help="N1,N2: the two run lengths")
    parser.add_argument("--callgrind", metavar="FILE", type=Path,
                        help="instead of counting: profile the first kind's N2 requests into FILE")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "N", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import uvloop
        uvloop.run(_serve_and_load(args.child[0], int(args.child[1]), Path(args.child[2])))
        return 0
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: valgrind is not installed (Debian: apt-get install -y valgrind)")
    kinds = [k for k in args.kinds.split(",") if k]
    if any(k not in KINDS for k in kinds):
        sys.exit(f"instructions.py: --kinds is a subset of {','.join(KINDS)}")
    n1, n2 = (int(n) for n in args.requests.split(","))
    if args.callgrind:
        with tempfile.TemporaryDirectory(prefix="lychgate-instructions-") as scratch:
            _prepare(kinds[0], Path(scratch))
            with _state_store(kinds[0], Path(scratch)):
                profile(kinds[0], n2, Path(scratch), args.callgrind.resolve())
        return 0
    per_request = {}
    print(f"{'kind':<8} {'instructions/request':>21} {'added to none':>14}")
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="lychgate-instructions-") as scratch:
            work = Path(scratch)
            _prepare(kind, work)
            with _state_store(kind, work):
                per_request[kind] = (count(kind, n2, work) - count(kind, n1, work)) / (n2 - n1)
        added = f"{per_request[kind] - per_request['none']:14,.0f}" if "none" in per_request and kind != "none" else ""
        print(f"{kind:<8} {per_request[kind]:21,.0f} {added}", flush=True)
    return 0


def _prepare(kind: str, work: Path) -> None:
    """What both runs of a kind share: the local identity provider's signing key (drawing an RSA
    key takes a random number of instructions), made here, outside the counted runs."""
    if KINDS[kind] == "jwt":
        sys.path.insert(0, str(BENCH))
        from harness import auth
        auth.auth_project(work, 9, "jwt")
        auth.header_sets(work, 9, "jwt")


@contextlib.contextmanager
def _state_store(kind: str, work: Path) -> Iterator[None]:
    """For ``redis``: a redis-server of its own (no persistence) for both runs, its URL in
    ``work/state-url``; other kinds keep the memory store."""
    if kind != "redis":
        yield
        return
    if shutil.which("redis-server") is None:
        sys.exit("instructions.py: redis-server is not installed (Debian: apt-get install -y redis-server)")
    sys.path.insert(0, str(BENCH))
    from harness.procs import free_port
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout != b"PONG\n":
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("instructions.py: redis-server did not start")
            time.sleep(0.05)
        (work / "state-url").write_text(f"redis://127.0.0.1:{port}/0")
        yield
    finally:
        server.terminate()
        server.wait(10)


# ---------------------------------------------------------------- the child: one process, three parts

class _Backend(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(RESPONSE * data.count(b"\r\n\r\n"))


class _Client(asyncio.Protocol):
    """Closed loop: the next request as soon as a response has arrived."""

    def __init__(self, requests: list[bytes], state: dict):
        self.requests, self.state = requests, state

    def connection_made(self, transport):
        self.transport = transport
        self._send()

    def _send(self) -> None:
        # The next of the requests in turn, counted across connections (as wrk's script does).
        self.state["sent"] = sent = self.state["sent"] + 1
        self.transport.write(self.requests[sent % len(self.requests)])

    def data_received(self, data: bytes) -> None:
        state = self.state
        ok = data.count(b"HTTP/1.1 200 ")
        state["ok"] += ok
        state["other"] += data.count(b"HTTP/1.1 ") - ok
        if state["ok"] >= WARM_UP and not state["warm"]:
            state["warm"] = True
            os.getpgid(0)  # the marker --callgrind dumps the warm-up at (see profile())
        if state["ok"] >= state["limit"]:
            if not state["done"].done():
                state["done"].set_result(None)
            return
        self._send()


async def _serve_and_load(kind: str, requests: int, work: Path) -> None:
    sys.path.insert(0, str(BENCH))
    from harness import auth
    from harness.scenarios import ITEM_PATH, proxy_project
    from lychgate.config.project import load_project
    from lychgate.pipeline import build_pipeline
    from lychgate.pipeline.runtime import Gateway
    from lychgate.server.protocol import ConnectionState, HttpConnection
    from lychgate.server.run import tune_collector

    loop = asyncio.get_running_loop()
    backend = await loop.create_server(_Backend, "127.0.0.1", 0)
    backend_port = backend.sockets[0].getsockname()[1]
    auth_kind = KINDS[kind]
    state_url = work / "state-url"
    state = state_url.read_text() if state_url.exists() else "memory"
    if auth_kind:
        project = auth.auth_project(work, backend_port, auth_kind, state=state)
    else:
        project = BENCH / "projects" / "lambda" if kind == "lambda" else proxy_project(work, backend_port)
    gateway = Gateway(load_project(project), access_log=False)
    await gateway.load_keys()
    if gateway.local_idp is not None:
        await gateway.local_idp.start()
    state = ConnectionState(gateway, build_pipeline(), gateway.project.limits)
    server = await loop.create_server(lambda: HttpConnection(state), "127.0.0.1", 0)
    tune_collector()  # as ``lychgate serve`` does once started
    port = backend_port if kind == "direct" else server.sockets[0].getsockname()[1]
    path = ITEM_PATH if kind == "direct" else "/prod" + ITEM_PATH
    if kind == "iam-unique":
        to_send = auth.unique_signed_requests(port, UNIQUE_REQUESTS)
    else:
        header_sets = auth.header_sets(work, port, auth_kind) if auth_kind else [{"Host": f"127.0.0.1:{port}"}]
        to_send = [(path, headers) for headers in header_sets]
    wire = [(f"GET {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            for target, headers in to_send]
    progress = {"ok": 0, "other": 0, "sent": 0, "warm": False, "limit": WARM_UP + requests, "done": loop.create_future()}
    for _ in range(CONNECTIONS):
        await loop.create_connection(lambda: _Client(wire, progress), "127.0.0.1", port)
    await progress["done"]
    if progress["other"]:
        print(f"{progress['other']} responses were not 200", file=sys.stderr)
        os._exit(1)
    os._exit(0)  # skip the orderly shutdown: its instructions would be counted


if __name__ == "__main__":
    sys.exit(main())
