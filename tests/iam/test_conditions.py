"""Condition values that are hostile rather than wrong (spec A4): found by fuzzing (fuzz/iam.py, issue #8).

An unparseable request value matches nothing and a bad policy value is a PolicyError; neither may
escape as another exception, at load time or, worse, on every request.
"""

from __future__ import annotations

import pytest

from lychgate.iam import AuthzRequest, Decision, PolicyError, PolicySource, compile_policy, evaluate_policies

LONG_EPOCH = "9" * 5000  # all digits, so an epoch: more than int() converts (sys.get_int_max_str_digits)


def policy(operator: str, value: str):
    return compile_policy({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
        "Condition": {operator: {"aws:CurrentTime": value}}}}, PolicySource("p"))


@pytest.mark.parametrize("operator", ["DateGreaterThan", "DateEquals", "DateNotEquals"])
def test_too_long_epoch_in_a_policy_is_a_policy_error(operator: str) -> None:
    with pytest.raises(PolicyError, match="expected an ISO 8601 date"):
        policy(operator, LONG_EPOCH)


@pytest.mark.parametrize(("operator", "decision"), [("DateGreaterThan", Decision.IMPLICIT_DENY),
                                                    ("DateNotEquals", Decision.ALLOW)])
def test_too_long_epoch_in_the_request_matches_nothing(operator: str, decision: Decision) -> None:
    request = AuthzRequest("execute-api:Invoke", "arn:aws:execute-api:us-east-1:1:a/prod/GET/",
                           context={"aws:CurrentTime": LONG_EPOCH})
    assert evaluate_policies(request, [policy(operator, "1700000000")]).decision is decision
