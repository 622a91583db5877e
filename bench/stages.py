"""What authorization adds per request, measured in-process: the pipeline up to the integration.

For each project kind of ``bench/run.py``'s scenarios (c: NONE, e: AWS_IAM with 20 signed callers,
f: cached Lambda TOKEN authorizer, g: Cognito with a cached token, h: API key + usage plan in
memory) this builds the gateway the server would, then runs the request path of the same
request the load test sends through the pipeline's stages (locate, authenticate, authorize, API
key, throttle, then a fixed answer in place of the integration) plus the response stages and
finalizers (the trace ring included), many times, interleaving the kinds in rounds so that the machine's speed swings hit them alike. It
prints the CPU time per request of each kind and what it adds to NONE: the part of the gateway's
per-request cost that authorization is responsible for, without sockets, backend or load
generator. Like ``run.py`` it installs nothing.

    python bench/stages.py [--rounds 7] [--requests 2000] [--kinds c,e,f,g,h]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import auth
from harness.scenarios import ITEM_PATH, proxy_project

from lychgate.config.project import load_project
from lychgate.messages import Request
from lychgate.messages import Response
from lychgate.pipeline import FINALIZERS, LOCATE_STAGES, REQUEST_STAGES, RESPONSE_STAGES
from lychgate.pipeline.chain import Pipeline
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.runtime import Gateway
from lychgate.server.protocol import request_ids

KINDS = {"c": None, "e": "iam", "f": "token", "g": "jwt", "h": "apikey"}
PORT = 8080  # the Host the signed requests name; nothing listens


ANSWER = b'{"ok":true,"service":"backend","message":"hello from the bench backend","id":"a1b2c3d4e5f60718","n":42}'


def _answer(ctx: RequestContext) -> None:
    """In place of the integration: the backend's answer, without a backend."""
    ctx.response = Response(200, [("Content-Type", "application/json")], ANSWER)


class Kind:
    """One project served in-process, and the requests its load test sends."""

    def __init__(self, key: str, work: Path):
        kind = KINDS[key]
        folder = work / key
        folder.mkdir()
        project_dir = proxy_project(folder, 9) if kind is None else auth.auth_project(folder, 9, kind)
        self.key = key
        self.gateway = Gateway(load_project(project_dir), access_log=False)
        self.pipeline = Pipeline(LOCATE_STAGES, [*REQUEST_STAGES[:-1], _answer], RESPONSE_STAGES, FINALIZERS)
        headers = auth.header_sets(folder, PORT, kind) if kind else [{"Host": f"127.0.0.1:{PORT}"}]
        path, _, query = ("/prod" + ITEM_PATH).partition("?")
        self.requests = [(path, query, list(h.items())) for h in headers]

    async def start(self) -> None:
        await self.gateway.load_keys()
        if self.gateway.local_idp is not None:  # the Cognito kind: its JWKS, served in-process
            await self.gateway.local_idp.start()

    async def run(self, count: int) -> float:
        """CPU seconds per request over ``count`` requests; each must pass."""
        pipeline, gateway, requests = self.pipeline, self.gateway, self.requests
        started = time.process_time()
        for n in range(count):
            path, query, headers = requests[n % len(requests)]
            request_id, extended_id = request_ids()
            ctx = RequestContext(gateway, Request("GET", path, query, headers, b"", "127.0.0.1", "1.1", time.time()),
                                 request_id, extended_id, time.perf_counter())
            await pipeline.run(ctx)
            if ctx.error is not None:
                raise SystemExit(f"stages.py: ({self.key}) refused: {ctx.error.cause}: {ctx.error.detail}")
            pipeline.finish(ctx)
        return (time.process_time() - started) / count


async def measure(keys: list[str], rounds: int, count: int, work: Path) -> dict[str, list[float]]:
    kinds = [Kind(key, work) for key in keys]
    for kind in kinds:
        await kind.start()
        await kind.run(count // 4)  # warm caches: authorizer results, verified tokens, memos
    results: dict[str, list[float]] = {key: [] for key in keys}
    for _ in range(rounds):
        for kind in kinds:
            results[kind.key].append(await kind.run(count))
    for kind in kinds:
        if kind.gateway.local_idp is not None:
            await kind.gateway.local_idp.stop()
        kind.gateway.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind per round")
    parser.add_argument("--kinds", default="c,e,f,g,h")
    args = parser.parse_args()
    keys = [k for k in args.kinds.split(",") if k]
    if "c" not in keys or any(k not in KINDS for k in keys):
        sys.exit(f"stages.py: --kinds is a subset of {','.join(KINDS)} that includes c")
    with tempfile.TemporaryDirectory(prefix="lychgate-stages-") as scratch:
        results = asyncio.run(measure(keys, args.rounds, args.requests, Path(scratch)))
    none = results["c"]
    print(f"{'kind':<6} {'µs/req (median)':>15} {'adds to NONE (paired median)':>29}")
    for key, times in results.items():
        added = statistics.median(t - n for t, n in zip(times, none))
        print(f"({key})   {statistics.median(times) * 1e6:15.1f} {added * 1e6:29.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
