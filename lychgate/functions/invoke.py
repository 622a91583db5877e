"""Lambda-style Python handlers: loading them, and invoking them like Lambda would.

A function is ``handler(event, context)``, sync or ``async``. Sync handlers run in a bounded
pool of worker threads of their own (one pool per function, so one hung function cannot starve
the others); async ones are awaited on the loop. Each call gets a Lambda-like context object and
a deadline. Loading a handler runs its module once, as Lambda's init phase does. Whatever a
handler raises or does, the caller gets an exception of its own: ``sys.exit()`` in a handler is a
function error ("Runtime exited", as Lambda reports it), never the gateway's exit, and a handler
that never returns keeps only its worker busy, never the process alive after it is stopped.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from lychgate.config.model import FunctionSpec

LOG = logging.getLogger(__name__)
POOL_SIZE = 16


class FunctionLoadError(Exception):
    """A handler that cannot be imported; the message names the function and why."""


class FunctionError(Exception):
    """The function raised (Lambda's "Unhandled" function error); ``__cause__`` is the exception."""


class FunctionTimeout(Exception):
    """The function ran past its own timeout (Lambda's "Task timed out")."""


class RuntimeExit(Exception):
    """The handler raised SystemExit, KeyboardInterrupt or another BaseException: Lambda's
    ``Runtime.ExitError``. Becomes a FunctionError's ``__cause__`` (its text is what an
    authorizer's caller would see as ``errorMessage``, so ``sys.exit("Unauthorized")`` is not a 401)."""

    def __init__(self, exc: BaseException):
        code = exc.code if isinstance(exc, SystemExit) else 1
        status = code if isinstance(code, int) else 0 if code is None else 1  # as the interpreter exits
        super().__init__(f"Runtime exited with error: exit status {status} ({type(exc).__name__})")


class LambdaContext:
    """The ``context`` argument, with the attributes of AWS's Python runtime."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(self, spec: FunctionSpec, arn: str, request_id: str, deadline: float):
        self.function_name = spec.name
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = str(spec.memory_mb)  # a string, as the runtime reads it from the environment
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self._deadline = deadline

    @property
    def log_stream_name(self) -> str:
        return f"lychgate/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class WorkerPool:
    """At most ``size`` daemon threads that run one function's sync handler calls.

    ``submit`` returns an asyncio future of the calling loop. A call whose future is already
    cancelled (its caller timed out while it waited for a worker) is skipped, so a queue built up
    behind hung handlers drains without running. Daemon threads, unlike ThreadPoolExecutor's, are
    not joined at interpreter exit: a handler stuck forever cannot keep a stopped gateway alive
    (Lambda, too, ends a timed-out invocation's runtime).
    """

    def __init__(self, size: int, name: str):
        self.size, self.name = size, name
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        # Idle workers, counted under a lock (C-level; a threading.Semaphore is Python code that
        # both threads would run on every call).
        self._idle = 0
        self._idle_lock = threading.Lock()
        self._threads = 0
        self._closed = False

    def submit(self, fn: Callable, *args: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, fn, args))
        with self._idle_lock:
            idle = self._idle
            if idle:
                self._idle = idle - 1
        if not idle and self._threads < self.size:
            self._threads += 1
            threading.Thread(target=self._work, name=f"fn-{self.name}-{self._threads}", daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            loop, future, fn, args = item
            outcome = _call(fn, args) if not future.cancelled() else None
            if not self._closed:
                # Idle before the caller hears back, so a call it makes next finds this worker.
                with self._idle_lock:
                    self._idle += 1
            if outcome is not None:
                _resolve(loop, future, *outcome)
            del item, loop, future, fn, args, outcome  # hold no event or result while idle
            if self._closed:
                return

    def close(self) -> None:
        """Idle workers end now, busy ones after their current call; nothing is waited for."""
        self._closed = True
        for _ in range(self._threads):
            self._calls.put(None)


def _call(fn: Callable, args: tuple) -> tuple[bool, Any]:
    """(True, result) or (False, exception); SystemExit & co. must never reach the event loop."""
    try:
        return True, fn(*args)
    except Exception as exc:  # the handler's own error, reported as such
        return False, exc
    except BaseException as exc:  # noqa: BLE001 - sys.exit(), KeyboardInterrupt, ...
        error = RuntimeExit(exc)
        error.__cause__ = exc
        return False, error


def _resolve(loop: asyncio.AbstractEventLoop, future: asyncio.Future, ok: bool, value: Any) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, ok, value)
    except RuntimeError:  # the loop is closed: nobody waits for this call any more
        pass


def _settle(future: asyncio.Future, ok: bool, value: Any) -> None:
    if not future.done():  # cancelled meanwhile: the caller gave up on this call
        future.set_result(value) if ok else future.set_exception(value)


_TIMED_OUT = "lychgate: the call ran out of time"
"""The message of the cancellation that times a worker call out (as ``wait_for`` does, the call
is cancelled, so a worker that has not started it skips it)."""


class LocalFunction:
    """One loaded function."""

    def __init__(self, spec: FunctionSpec, arn: str):
        self.spec = spec
        self.arn = arn
        self.handler = load_handler(spec)
        self.is_async = inspect.iscoroutinefunction(self.handler)
        self._pool: WorkerPool | None = None

    async def invoke(self, event: Any, *, request_id: str, timeout_s: float) -> Any:
        """Run the handler; raises FunctionError, FunctionTimeout or asyncio.TimeoutError."""
        own = self.spec.timeout_s
        limit = min(timeout_s, own) if own else timeout_s
        context = LambdaContext(self.spec, self.arn, request_id, time.monotonic() + (own or timeout_s))
        try:
            if self.is_async:
                return await asyncio.wait_for(_guarded(self.handler(event, context)), limit)
            return await self._in_worker(event, context, limit)
        except asyncio.TimeoutError:
            if own and own < timeout_s:
                raise FunctionTimeout(f"Task timed out after {own:.2f} seconds") from None
            raise
        except RuntimeExit as exc:
            raise FunctionError(str(exc)) from exc
        except Exception as exc:
            raise FunctionError(f"{type(exc).__name__}: {exc}") from exc

    async def _in_worker(self, event: Any, context: LambdaContext, limit: float) -> Any:
        """A sync handler's call in the function's worker pool, timed out by a timer on its future
        (``wait_for`` would add a waiter future and callbacks)."""
        if self._pool is None:
            self._pool = WorkerPool(POOL_SIZE, self.spec.name)
        future = self._pool.submit(self.handler, event, context)
        timer = future.get_loop().call_later(limit, future.cancel, _TIMED_OUT)
        try:
            return await future
        except asyncio.CancelledError as exc:
            if exc.args == (_TIMED_OUT,):
                raise asyncio.TimeoutError() from None
            raise  # the caller's own cancellation
        finally:
            timer.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


async def _guarded(call: Awaitable) -> Any:
    """An async handler's call; SystemExit or KeyboardInterrupt would otherwise stop the event loop."""
    try:
        return await call
    except (SystemExit, KeyboardInterrupt) as exc:
        raise RuntimeExit(exc) from exc


def load_handler(spec: FunctionSpec) -> Callable:
    """Import ``file.py:attr`` (relative to the project) or ``package.module:attr``.

    The function's environment variables are set first, so module-level reads see them. All
    handlers share one process environment: ``check`` warns when two functions disagree.
    """
    os.environ.update(spec.environment)
    target, _, attr = spec.handler.rpartition(":")
    try:
        module = _import(target, spec.base_dir, spec.name)
        handler = module
        for part in attr.split("."):
            handler = getattr(handler, part)
    except FunctionLoadError:
        raise
    except AttributeError:
        raise FunctionLoadError(f"function {spec.name!r}: {target} has no attribute {attr!r}") from None
    except Exception as exc:  # the module's own code failed: report it like Lambda's init error
        raise FunctionLoadError(f"function {spec.name!r}: importing {target} failed: {type(exc).__name__}: {exc}") from exc
    if not callable(handler):
        raise FunctionLoadError(f"function {spec.name!r}: {spec.handler} is not callable")
    return handler


def _import(target: str, base_dir: Path, name: str):
    if target.endswith(".py"):
        path = (base_dir / target).resolve()
        if not path.is_file():
            raise FunctionLoadError(f"function {name!r}: handler file {path} not found")
        # Like Lambda, the handler's folder is importable so it can import its siblings.
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        module_name = f"lychgate_fn_{name}_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    if str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        raise FunctionLoadError(f"function {name!r}: module {target!r} not found ({exc})") from None
