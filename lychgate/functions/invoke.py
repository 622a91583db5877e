"""Lambda-style Python handlers: loading them, and invoking them like Lambda would.

A function is ``handler(event, context)``, sync or ``async``. Sync handlers run in a bounded
thread pool of their own (one per function, so one hung function cannot starve the others);
async ones are awaited on the loop. Each call gets a Lambda-like context object and a deadline.
Loading a handler runs its module once, as Lambda's init phase does.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from lychgate.config.model import FunctionSpec

LOG = logging.getLogger(__name__)
POOL_SIZE = 16


class FunctionLoadError(Exception):
    """A handler that cannot be imported; the message names the function and why."""


class FunctionError(Exception):
    """The function raised (Lambda's "Unhandled" function error); ``__cause__`` is the exception."""


class FunctionTimeout(Exception):
    """The function ran past its own timeout (Lambda's "Task timed out")."""


class LambdaContext:
    """The ``context`` argument, with the attributes of AWS's Python runtime."""

    def __init__(self, spec: FunctionSpec, arn: str, request_id: str, deadline: float):
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = str(spec.memory_mb)  # a string, as the runtime reads it from the environment
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"lychgate/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One loaded function."""

    def __init__(self, spec: FunctionSpec, arn: str):
        self.spec = spec
        self.arn = arn
        self.handler = load_handler(spec)
        self.is_async = inspect.iscoroutinefunction(self.handler)
        self._pool: ThreadPoolExecutor | None = None

    async def invoke(self, event: Any, *, request_id: str, timeout_s: float) -> Any:
        """Run the handler; raises FunctionError, FunctionTimeout or asyncio.TimeoutError."""
        own = self.spec.timeout_s
        limit = min(timeout_s, own) if own else timeout_s
        context = LambdaContext(self.spec, self.arn, request_id, time.monotonic() + (own or timeout_s))
        try:
            return await asyncio.wait_for(self._run(event, context), limit)
        except asyncio.TimeoutError:
            if own and own < timeout_s:
                raise FunctionTimeout(f"Task timed out after {own:.2f} seconds") from None
            raise
        except Exception as exc:
            raise FunctionError(f"{type(exc).__name__}: {exc}") from exc

    def _run(self, event: Any, context: LambdaContext):
        if self.is_async:
            return self.handler(event, context)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix=f"fn-{self.spec.name}")
        return asyncio.get_running_loop().run_in_executor(self._pool, self.handler, event, context)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


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
