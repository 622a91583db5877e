"""`lychgate iam simulate-*`: AWS CLI arguments in, AWS CLI JSON out, the gateway's engine inside."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/prod"
POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ReadAll", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "%s/GET/*"},
    {"Sid": "OnlyInside", "Effect": "Deny", "Action": "execute-api:*", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
  ]
}""" % ARN


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lychgate", "iam", *args], capture_output=True, text=True, cwd=ROOT)


def results(proc) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["EvaluationResults"]


def test_custom_policy_decisions_positions_and_context(tmp_path):
    (tmp_path / "p.json").write_text(POLICY)
    out = results(run("simulate-custom-policy", "--policy-input-list", f"file://{tmp_path / 'p.json'}",
                      "--action-names", "execute-api:Invoke",
                      "--resource-arns", f"{ARN}/GET/pets", f"{ARN}/POST/pets",
                      "--context-entries", "ContextKeyName=aws:SourceIp,ContextKeyValues=10.1.2.3,ContextKeyType=ip"))
    assert [r["EvalDecision"] for r in out] == ["allowed", "implicitDeny"]
    assert out[0]["MatchedStatements"] == [{"SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "IAM Policy",
                                            "StartPosition": {"Line": 4, "Column": 5},
                                            "EndPosition": {"Line": 4, "Column": 146}}]
    assert out[1]["MatchedStatements"] == [] and out[1]["MissingContextValues"] == []
    assert any("does not match" in line for line in out[1]["lychgateExplanation"])


def test_custom_policy_explicit_deny_and_missing_context():
    out = results(run("simulate-custom-policy", "--policy-input-list", POLICY,
                      "--action-names", "execute-api:Invoke", "--resource-arns", f"{ARN}/GET/pets"))
    assert out[0]["EvalDecision"] == "explicitDeny"  # NotIpAddress on a missing key is true
    assert out[0]["MissingContextValues"] == ["aws:SourceIp"]
    assert out[0]["MatchedStatements"][0]["StartPosition"] == {"Line": 5, "Column": 5}


def test_resource_policy_cross_account_needs_both_sides():
    identity = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]})
    resource = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:user/eve"}, "Action": "execute-api:Invoke",
         "Resource": "*"}]})
    common = ["--policy-input-list", identity, "--action-names", "execute-api:Invoke", "--resource-arns", f"{ARN}/GET/x",
              "--resource-owner", "arn:aws:iam::123456789012:root"]
    allowed = results(run("simulate-custom-policy", *common, "--resource-policy", resource,
                          "--caller-arn", "arn:aws:iam::999999999999:user/eve"))
    assert allowed[0]["EvalDecision"] == "allowed"
    no_resource_allow = results(run("simulate-custom-policy", *common, "--caller-arn", "arn:aws:iam::999999999999:user/eve"))
    assert no_resource_allow[0]["EvalDecision"] == "implicitDeny"


def test_principal_policy_uses_the_project_identities():
    base = ["simulate-principal-policy", "--project", "examples/petstore", "--action-names", "execute-api:Invoke"]
    out = results(run(*base, "--policy-source-arn", "arn:aws:iam::123456789012:user/alice",
                      "--resource-arns", "arn:aws:execute-api:us-east-1:123456789012:petstore/prod/GET/orders",
                      "arn:aws:execute-api:us-east-1:123456789012:petstore/prod/POST/orders"))
    assert [r["EvalDecision"] for r in out] == ["allowed", "implicitDeny"]
    bob = results(run(*base, "--policy-source-arn", "arn:aws:iam::123456789012:user/bob",
                      "--resource-arns", "arn:aws:execute-api:us-east-1:123456789012:petstore/prod/GET/orders",
                      "--context-entries", "ContextKeyName=aws:SourceIp,ContextKeyValues=127.0.0.1,ContextKeyType=ip"))
    assert bob[0]["EvalDecision"] == "allowed"
    assert bob[0]["MatchedStatements"][0]["SourcePolicyId"] == "arn:aws:iam::123456789012:policy/PetstoreOrdersRead"
    role = results(run(*base, "--policy-source-arn", "arn:aws:iam::123456789012:role/deployer",
                       "--resource-arns", "arn:aws:execute-api:us-east-1:123456789012:petstore/prod/DELETE/x"))
    assert role[0]["EvalDecision"] == "allowed"


def test_unknown_principal_and_bad_policy_exit_2():
    proc = run("simulate-principal-policy", "--project", "examples/petstore", "--policy-source-arn",
               "arn:aws:iam::123456789012:user/nobody", "--action-names", "execute-api:Invoke")
    assert proc.returncode == 2 and "known principals" in proc.stderr
    proc = run("simulate-custom-policy", "--policy-input-list", '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}',
               "--action-names", "execute-api:Invoke")
    assert proc.returncode == 2 and "PolicyInputList.1" in proc.stderr and "/Statement/0" in proc.stderr
