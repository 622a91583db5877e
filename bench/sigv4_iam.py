"""CPU cost of AWS_IAM authorization per request: SigV4 verification, the IAM decision, both.

Builds scenario (e)'s project (``bench/run.py``: AWS_IAM on every route, 20 users with an Allow
policy), signs the request its load test sends once per user (as ``harness/auth.py`` does), then
times, in-process and without the rest of the pipeline:

* ``sigv4.verify``: the signature check alone (header map, parsing, canonical request, HMAC);
* the same with the one-pass path for SDK-shaped requests switched off (what any other request,
  e.g. a presigned URL, costs);
* ``authorizers.iam.authenticate``: verify plus finding the key's owner (what the authenticate
  stage runs);
* ``authorizers.iam.authorize``: the decision with the gateway's warm ``DecisionMemo`` (a policy
  that reads no request context is decided once per caller and ARN) and without it (context keys
  built, every policy evaluated);
* authenticate + authorize(memo), one new ``Request`` each time: the figure of "SigV4 + IAM".

Kinds are interleaved in rounds (the machine's speed swings hit them alike); it prints the CPU
time (``time.thread_time``) per call, best and median round. Like ``stages.py`` it installs nothing.

    python bench/sigv4_iam.py [--rounds 30] [--calls 2000]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import auth
from harness.scenarios import ITEM_PATH

from lychgate.authorizers import iam
from lychgate.iam.arn import execute_api_arn
from lychgate.config.project import load_project
from lychgate.messages import Request
from lychgate.sigv4 import Verified, verify

PORT = 8080
API_ID, STAGE = "bench-proxy", "prod"


def build(work: Path):
    project = load_project(auth.auth_project(work, 9, "iam"))
    path, _, query = (f"/{STAGE}" + ITEM_PATH).partition("?")
    requests = [(path, query, list(h.items())) for h in auth.header_sets(work, PORT, "iam")]
    return project, requests


def kinds(project, requests) -> dict:
    store, region, account = project.identities, project.region, project.account_id
    count = len(requests)
    arn = execute_api_arn(region, account, API_ID, STAGE, "GET", requests[0][0][len(STAGE) + 1:])
    callers = [iam.authenticate(Request("GET", p, q, h), store, region) for p, q, h in requests]
    assert all(isinstance(c, iam.Caller) for c in callers), callers
    memo = iam.DecisionMemo()
    verify_module = importlib.import_module("lychgate.sigv4.verify")

    def sigv4(calls):
        lookup = store.credentials
        for n in range(calls):
            path, query, headers = requests[n % count]
            result = verify("GET", path, query, headers, b"", lookup=lookup, region=region)
        assert type(result) is Verified, result

    def sigv4_general(calls):
        fast = getattr(verify_module, "verify_sdk_request", None)  # (absent before it existed)
        if fast is not None:
            verify_module.verify_sdk_request = lambda *args: None
        try:
            sigv4(calls)
        finally:
            if fast is not None:
                verify_module.verify_sdk_request = fast

    def authenticate(calls):
        for n in range(calls):
            path, query, headers = requests[n % count]
            caller = iam.authenticate(Request("GET", path, query, headers), store, region)
        assert type(caller) is iam.Caller, caller

    def decide(calls, memo=memo):
        request = Request("GET", *requests[0], b"", "127.0.0.1", "1.1", time.time())
        for n in range(calls):
            evaluation = iam.authorize(method_arn=arn, request=request, region=region, account_id=account,
                                       caller=callers[n % count], resource_policy=None, memo=memo)
        assert iam.is_allowed(evaluation), evaluation.rule

    def decide_unremembered(calls):
        decide(calls, None)

    def both(calls):
        for n in range(calls):
            path, query, headers = requests[n % count]
            request = Request("GET", path, query, headers, b"", "127.0.0.1", "1.1", time.time())
            caller = iam.authenticate(request, store, region)
            evaluation = iam.authorize(method_arn=arn, request=request, region=region, account_id=account,
                                       caller=caller, resource_policy=None, memo=memo)
        assert iam.is_allowed(evaluation), evaluation.rule

    return {"sigv4.verify": sigv4, "sigv4.verify, general path": sigv4_general,
            "iam.authenticate (verify + owner)": authenticate, "IAM decision, memo warm": decide,
            "IAM decision, no memo": decide_unremembered, "SigV4 + IAM (authenticate + authorize)": both}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=2000, help="calls per kind per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lychgate-sigv4-iam-") as scratch:
        project, requests = build(Path(scratch))
        runs = kinds(project, requests)
        for run in runs.values():  # warm: signing keys, memos, canonical forms
            run(args.calls // 4 or 1)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                started = time.thread_time()
                run(args.calls)
                times[name].append((time.thread_time() - started) / args.calls)
    print(f"{'':40} {'µs/call best':>12} {'median':>8}")
    for name, values in times.items():
        print(f"{name:40} {min(values) * 1e6:12.2f} {statistics.median(values) * 1e6:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
