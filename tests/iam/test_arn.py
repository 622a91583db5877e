"""Wildcard matching without backtracking blow-up (spec A2 globs and the ARN segment rule).

Found by fuzzing (fuzz/iam.py, issue #8): a pattern with several ``*`` in one stretch compiled to
a regex that backtracks polynomially (exponentially for a run of ``*``) when it fails, and the
method ARN carries the request path, so one long path cost seconds to minutes of CPU per request.
"""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from lychgate.iam import AuthzRequest, Decision, PolicySource, compile_policy, evaluate_policies
from lychgate.iam.arn import (_tokens, arn_glob_source, arn_wildcard_match, glob_matches, plain_glob_source,
                              wildcard_match)

PIECES = st.lists(st.tuples(st.text("a:/*?", max_size=6), st.booleans()), max_size=4)
TEXT = st.text("a:/b", max_size=12)


@settings(max_examples=500, deadline=None)
@given(PIECES, TEXT)
def test_linear_matchers_agree_with_the_regexes(pieces: list[tuple[str, bool]], text: str) -> None:
    plain = re.fullmatch(plain_glob_source(pieces), text, re.DOTALL) is not None
    arn = re.fullmatch(arn_glob_source(pieces), text, re.DOTALL) is not None
    assert wildcard_match(_tokens(pieces), text) is plain
    assert arn_wildcard_match(_tokens(pieces), text) is arn
    assert glob_matches(pieces, text, arn=False) is plain
    assert glob_matches(pieces, text, arn=True) is arn


def decide(resource_pattern: str, path: str) -> tuple[Decision, float]:
    policy = compile_policy({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource_pattern}}, PolicySource("p"))
    request = AuthzRequest("execute-api:Invoke", "arn:aws:execute-api:us-east-1:111122223333:api/prod/GET/" + path)
    start = time.perf_counter()
    decision = evaluate_policies(request, [policy]).decision
    return decision, time.perf_counter() - start


def test_many_wildcards_against_a_long_path_answer_at_once() -> None:
    long_path = "a/" * 4000  # an 8 KB URL; the regexes took minutes on it
    for pattern in ("arn:aws:execute-api:us-east-1:111122223333:api/prod/*/*/*/edit",
                    "arn:aws:execute-api:*:*:*/" + "*a" * 6 + "*b",
                    "arn:aws:execute-api:us-east-1:111122223333:api/prod/GET/" + "*" * 80 + "b"):
        decision, seconds = decide(pattern, long_path)
        assert decision is Decision.IMPLICIT_DENY and seconds < 1.0, (pattern, seconds)
    assert decide("arn:aws:execute-api:us-east-1:111122223333:api/prod/*/*/*/edit", long_path + "edit")[0] \
        is Decision.ALLOW


def test_star_condition_against_a_long_value_answers_at_once() -> None:
    policy = compile_policy({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
        "Condition": {"StringLike": {"aws:UserAgent": "*a*a*a*a*b"}}}}, PolicySource("p"))
    request = AuthzRequest("execute-api:Invoke", "arn:aws:execute-api:us-east-1:1:api/prod/GET/",
                           context={"aws:UserAgent": "a" * 8000})
    start = time.perf_counter()
    assert evaluate_policies(request, [policy]).decision is Decision.IMPLICIT_DENY
    assert time.perf_counter() - start < 1.0
