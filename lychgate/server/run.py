"""Running the server: the listening socket, worker processes, signals and graceful shutdown.

One process serves by default. With ``--workers N`` the parent binds the socket and forks N
workers that share it (each with its own loop, gateway and pools) and supervises them; each
worker also listens on a socket of its own in the same ``SO_REUSEPORT`` group, so that the kernel
spreads connections over the workers. SIGTERM
or SIGINT stops accepting, lets in-flight requests finish within the grace period and exits 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import uvloop

from lychgate.config.model import Project
from lychgate.errors import ConfigError
from lychgate.pipeline import build_pipeline
from lychgate.pipeline.runtime import Gateway
from lychgate.server.admin import AdminServer
from lychgate.server.protocol import ConnectionState, HttpConnection

LOG = logging.getLogger(__name__)
GRACE_SECONDS = 10.0


def bind(host: str, port: int, *, workers: int = 1) -> socket.socket:
    """The listening socket. For several workers it joins a ``SO_REUSEPORT`` group, which each
    worker joins too with a socket of its own (``worker_socket``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _listen(socket.socket(family, socket.SOCK_STREAM), (host, port), reuse_port=workers > 1)


def worker_socket(shared: socket.socket) -> socket.socket:
    """A worker's own listening socket on the shared socket's address. The kernel spreads new
    connections over the group's sockets; on the shared one alone, whichever worker woke first
    accepted them all (one worker took every connection of a 32-connection client)."""
    return _listen(socket.socket(shared.family, socket.SOCK_STREAM), shared.getsockname(), reuse_port=True)


def _listen(sock: socket.socket, address, *, reuse_port: bool) -> socket.socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@dataclass(frozen=True)
class ServeOptions:
    workers: int = 1
    access_log: bool = True
    explain_header: bool = False
    execution_log: bool = False
    admin_token: str = ""
    reload: Callable[[], Project] | None = None  # loads the project again (raises ConfigError) for SIGHUP
    watch: Path | None = None  # reload, as on SIGHUP, when a file under this folder changes


def serve(project: Project, sock: socket.socket, options: ServeOptions, on_ready=None) -> int:
    """Serve until stopped; returns the exit status."""
    if options.workers <= 1:
        return _run_worker(project, [sock], options, on_ready)
    return _supervise(project, sock, options, on_ready)


def _run_worker(project: Project, socks: list[socket.socket], options: ServeOptions, on_ready=None) -> int:
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_serve_async(project, socks, options, on_ready))
    finally:
        loop.close()


def _gateway(project: Project, options: ServeOptions) -> Gateway:
    return Gateway(project, access_log=options.access_log, explain_header=options.explain_header,
                   execution_log=options.execution_log)


async def _serve_async(project: Project, socks: list[socket.socket], options: ServeOptions, on_ready) -> int:
    loop = asyncio.get_running_loop()
    gateway = _gateway(project, options)
    state = ConnectionState(gateway, build_pipeline(), project.limits)
    servers = [await loop.create_server(lambda: HttpConnection(state), sock=sock, backlog=1024) for sock in socks]
    sweeper = loop.create_task(state.sweep())
    host, port = socks[0].getsockname()[:2]
    admin = AdminServer(gateway, options.admin_token, f"http://{host}:{port}")
    await admin.start()
    await _start_local_idp(gateway)
    for name, value in await gateway.load_keys():
        print(f"lychgate: API key {name!r} was generated; its value, shown only this once: {value}", flush=True)
    refresher = loop.create_task(_refresh_keys(state)) if project.state != "memory" else None
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if options.reload is not None:
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload(state, admin, options)))
    watcher = loop.create_task(_watch(options.watch, lambda: _reload(state, admin, options))) \
        if options.watch is not None and options.reload is not None else None
    tune_collector()
    release_free_memory()
    if on_ready is not None:
        on_ready()
    await stop.wait()
    for server in servers:
        server.close()
    for conn in list(state.connections):
        conn.shutdown()
    deadline = time.monotonic() + GRACE_SECONDS
    while (state.in_flight or state.connections) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for conn in list(state.connections):
        if conn.transport is not None:
            conn.transport.close()
    admin.close()
    sweeper.cancel()
    if refresher is not None:
        refresher.cancel()
    if watcher is not None:
        watcher.cancel()
    gateway = state.gateway
    await gateway.store.close()
    if gateway.local_idp is not None:
        await gateway.local_idp.stop()
    gateway.close()
    return 0


def tune_collector() -> None:
    """Everything loaded at start-up lives as long as the server: keep it out of the collector's
    way, and collect the young generation less often (shorter pauses, fewer of them)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``). Loading a large
    project frees much more than it keeps (parsed documents, validation models, the first
    gateway built to check the project): without this the server keeps that memory resident."""
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


async def _reload(state: ConnectionState, admin: AdminServer, options: ServeOptions) -> None:
    """SIGHUP: validate the project again; a good one replaces the running gateway at once (requests
    in flight finish on the old one, closed after the grace period), a bad one is logged and ignored."""
    loop = asyncio.get_running_loop()
    try:
        project = await loop.run_in_executor(None, options.reload)
        new = _gateway(project, options)
        await new.load_keys()
    except ConfigError as exc:
        for problem in exc.problems:
            LOG.error("reload rejected, still serving the previous configuration: %s", problem)
        return
    except Exception:  # noqa: BLE001 - whatever broke, the running configuration keeps serving
        LOG.exception("reload failed, still serving the previous configuration")
        return
    old = state.gateway
    new.traces = old.traces  # explanations of earlier requests survive the reload
    state.gateway = admin.gateway = new
    LOG.info("reloaded %s: %d API(s)", project.file, len(project.apis))
    await asyncio.sleep(GRACE_SECONDS)
    await old.store.close()
    old.close()
    del old
    gc.collect()
    release_free_memory()


WATCH_EVERY_S = 1.0
WATCH_IGNORED = frozenset({".lychgate", "__pycache__", ".git", ".aws-sam", "node_modules"})


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every file under ``folder`` but state, caches and VCS folders."""
    found = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in WATCH_IGNORED]
        for name in files:
            if name.endswith((".db", ".db-journal", ".db-wal", ".log")):
                continue  # state and logs the gateway itself writes
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


_reloads: set[asyncio.Task] = set()  # reloads in progress, kept referenced until done


async def _watch(folder: Path, reload: Callable[[], Awaitable[None]]) -> None:
    """``serve --watch``: poll the project folder once a second; a change (after it has stayed put
    for one more poll, so half-written files are not loaded) reloads as SIGHUP does."""
    loop = asyncio.get_running_loop()
    seen = await loop.run_in_executor(None, _snapshot, folder)
    pending = None
    while True:
        await asyncio.sleep(WATCH_EVERY_S)
        now = await loop.run_in_executor(None, _snapshot, folder)
        if now != seen and now == pending:
            LOG.info("files changed under %s: reloading", folder)
            seen = now
            # In the background: closing the old gateway waits out its grace period meanwhile.
            task = loop.create_task(reload())
            _reloads.add(task)
            task.add_done_callback(_reloads.discard)
        pending = now if now != seen else None


async def _refresh_keys(state: ConnectionState, every_s: float = 2.0) -> None:
    """Keys created, disabled or deleted with `lychgate keys` reach running gateways within seconds."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await state.gateway.load_keys()
        except Exception as exc:  # the store is down: keep the keys we have, fail closed per request
            LOG.warning("cannot refresh API keys from the state store: %s", exc)


def needs_shared_state(project: Project) -> bool:
    """Limits that N memory-state workers would each enforce on their own (N times too loose)."""
    throttled = any(s.throttle or s.method_throttle for api in project.apis for s in api.stages.values())
    return bool(project.usage_plans or project.api_keys or throttled)


async def _start_local_idp(gateway: Gateway) -> None:
    """Serve the local identity provider's discovery and JWKS; with several workers, one of them does."""
    if gateway.local_idp is None:
        return
    try:
        await gateway.local_idp.start()
    except OSError as exc:
        LOG.debug("local identity provider not started here: %s", exc)


def _supervise(project: Project, sock: socket.socket, options: ServeOptions, on_ready) -> int:
    children = []
    for _ in range(options.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            # The shared socket too: it holds what connected before this worker's own socket was
            # listening (the parent announces readiness right after forking).
            os._exit(_run_worker(project, [sock, worker_socket(sock)], options))
        children.append(pid)
    stopping = []

    def forward(signum, _frame):
        stopping.append(signum)
        for child in children:
            _kill(child, signal.SIGTERM)

    def reload(_signum, _frame):
        for child in children:
            _kill(child, signal.SIGHUP)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, reload)
    if on_ready is not None:
        on_ready()
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        if os.waitstatus_to_exitcode(code) != 0 and not stopping:
            status = 1
            LOG.error("worker %d exited with %s", child, os.waitstatus_to_exitcode(code))
    return status


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def urls(project: Project, host: str, port: int) -> list[str]:
    """The URLs a user can call: path style and host style, per API and stage."""
    shown_host = f"[{host}]" if ":" in host else host
    lines = []
    for api in project.apis:
        for stage in api.stages:
            prefix = "" if stage == "$default" else f"/{stage}"
            lines.append(f"{api.protocol} API {api.id} stage {stage}: "
                         f"http://{shown_host}:{port}{prefix}/  "
                         f"(or http://{api.id}.execute-api.localhost:{port}{prefix}/)")
    return lines


def enforcement(project: Project) -> list[str]:
    """What lychgate enforces on each route, printed at start-up so nothing is silently off."""
    plans = {(s.api_id, s.stage): p.name for p in project.usage_plans for s in p.api_stages}
    lines = []
    for api in project.apis:
        policy = " + resource policy" if api.resource_policy is not None else ""
        for method in api.methods:
            auth = method.authorization_type + (f" ({method.authorizer})" if method.authorizer else "")
            key = " + API key" if method.api_key_required else ""
            integration = method.integration.type if method.integration else "no integration (500)"
            lines.append(f"  {api.id} {method.route_key:<32} {auth}{policy}{key} -> {integration}")
        for stage in api.stages.values():
            limits = []
            if stage.throttle:
                limits.append(f"stage throttle {stage.throttle.rate_limit}/s burst {stage.throttle.burst_limit}")
            if (api.id, stage.name) in plans:
                limits.append(f"usage plan {plans[api.id, stage.name]}")
            if limits:
                lines.append(f"  {api.id} stage {stage.name}: {', '.join(limits)}")
    return lines


def flush_ready(message: str) -> None:
    print(message, flush=True)
    sys.stdout.flush()
