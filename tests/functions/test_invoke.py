"""LocalFunction and its WorkerPool: exits are function errors, the pool is bounded, calls given up
on never run, and the workers never hold up the interpreter's exit."""

import asyncio
import threading
import time

import pytest

from lychgate.config.model import FunctionSpec
from lychgate.functions.invoke import FunctionError, FunctionTimeout, LocalFunction, RuntimeExit, WorkerPool

HANDLERS = '''
import asyncio, sys, threading, time
RAN = []

def exits(event, context):
    sys.exit(event)

def interrupted(event, context):
    raise KeyboardInterrupt

async def async_exits(event, context):
    raise SystemExit(event)

def sleeps(event, context):
    RAN.append((event, threading.current_thread()))
    time.sleep(event)
    return event
'''


@pytest.fixture
def function(tmp_path):
    (tmp_path / "h.py").write_text(HANDLERS)
    made = []

    def make(name: str, timeout_s: float | None = None) -> LocalFunction:
        made.append(LocalFunction(FunctionSpec(name, f"h.py:{name}", tmp_path, timeout_s=timeout_s), f"arn:{name}"))
        return made[-1]

    yield make
    for fn in made:
        fn.close()


@pytest.mark.parametrize("name, event, text", [
    ("exits", 3, "Runtime exited with error: exit status 3 (SystemExit)"),
    ("exits", None, "Runtime exited with error: exit status 0 (SystemExit)"),
    ("exits", "Unauthorized", "Runtime exited with error: exit status 1 (SystemExit)"),
    ("interrupted", None, "Runtime exited with error: exit status 1 (KeyboardInterrupt)"),
    ("async_exits", 4, "Runtime exited with error: exit status 4 (SystemExit)"),
])
def test_an_exiting_handler_is_a_function_error(function, name, event, text):
    fn = function(name)

    async def call():
        with pytest.raises(FunctionError) as raised:
            await fn.invoke(event, request_id="r", timeout_s=5)
        return raised.value

    error = asyncio.run(call())
    assert str(error) == text and isinstance(error.__cause__, RuntimeExit)
    assert isinstance(error.__cause__.__cause__, (SystemExit, KeyboardInterrupt))


def test_calls_given_up_while_waiting_for_a_worker_never_run(function):
    fn = function("sleeps", timeout_s=0.1)
    ran = fn.handler.__globals__["RAN"]

    async def scenario():
        pool_size = 2
        fn._pool = WorkerPool(pool_size, "sleeps")
        results = await asyncio.gather(*(fn.invoke(0.5, request_id=str(i), timeout_s=5) for i in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, FunctionTimeout) for r in results)
        await asyncio.sleep(0.7)  # the two running calls end; the three queued were cancelled
        assert len(ran) == pool_size
        assert await fn.invoke(0, request_id="after", timeout_s=5) == 0  # the pool serves again
        assert len({thread for _, thread in ran}) <= pool_size and all(t.daemon for _, t in ran)

    asyncio.run(scenario())


def test_a_caller_cancelled_before_its_turn_is_cancelled_not_timed_out(function):
    fn = function("sleeps")
    ran = fn.handler.__globals__["RAN"]

    async def scenario():
        fn._pool = WorkerPool(1, "sleeps")
        busy = asyncio.ensure_future(fn.invoke(0.3, request_id="busy", timeout_s=5))
        queued = asyncio.ensure_future(fn.invoke(0.01, request_id="queued", timeout_s=5))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert await busy == 0.3
        await asyncio.sleep(0.1)
        assert [event for event, _ in ran] == [0.3]  # the cancelled call never ran

    asyncio.run(scenario())


def test_the_integration_timeout_is_a_timeout_error_when_the_function_allows_longer(function):
    fn = function("sleeps", timeout_s=10)

    async def scenario():
        with pytest.raises(asyncio.TimeoutError):
            await fn.invoke(0.5, request_id="slow", timeout_s=0.1)

    asyncio.run(scenario())


def test_the_pool_starts_threads_only_as_needed_up_to_its_size(function):
    fn = function("sleeps")

    async def scenario():
        for _ in range(5):  # one after another: one worker is enough
            await fn.invoke(0, request_id="seq", timeout_s=5)
        assert fn._pool._threads == 1
        await asyncio.gather(*(fn.invoke(0.2, request_id=str(i), timeout_s=5) for i in range(40)))
        assert fn._pool._threads == fn._pool.size == 16

    before = threading.active_count()
    asyncio.run(scenario())
    fn.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() <= before  # close() ends idle workers
