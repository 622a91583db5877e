"""Identities from `aws iam get-account-authorization-details` output, access keys and quick-start users."""

import json
from urllib.parse import quote

import pytest

from lychgate.config.identities import load_identities
from lychgate.config.schema import IdentitiesConfig
from lychgate.iam import AuthzRequest, Decision, authorize

ALLOW_PETS = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:api/*/GET/pets"}]}
BOUNDARY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:api/prod/*"}]}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def dump(**overrides) -> dict:
    doc = {
        "UserDetailList": [{
            "Path": "/", "UserName": "bob", "UserId": "AIDABOB00000000000001", "Arn": "arn:aws:iam::111122223333:user/bob",
            "UserPolicyList": [{"PolicyName": "inline", "PolicyDocument": quote(json.dumps(ALLOW_PETS))}],
            "GroupList": ["admins"], "AttachedManagedPolicies": [],
            "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": "arn:aws:iam::111122223333:policy/Boundary"},
            "Tags": [{"Key": "team", "Value": "blue"}]}],
        "GroupDetailList": [{"GroupName": "admins", "GroupId": "AGPA1", "Arn": "arn:aws:iam::111122223333:group/admins",
                             "GroupPolicyList": [], "AttachedManagedPolicies": [
                                 {"PolicyName": "All", "PolicyArn": "arn:aws:iam::111122223333:policy/All"}]}],
        "RoleDetailList": [{"RoleName": "worker", "RoleId": "AROAWORKER0000000001", "Arn": "arn:aws:iam::111122223333:role/svc/worker",
                            "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": ALLOW_PETS}],
                            "AttachedManagedPolicies": [], "Tags": [{"Key": "env", "Value": "ci"}]}],
        "Policies": [
            {"PolicyName": "All", "Arn": "arn:aws:iam::111122223333:policy/All", "PolicyVersionList": [
                {"Document": ALLOW_PETS, "VersionId": "v1", "IsDefaultVersion": False},
                {"Document": ALLOW_ALL, "VersionId": "v2", "IsDefaultVersion": True}]},
            {"PolicyName": "Boundary", "Arn": "arn:aws:iam::111122223333:policy/Boundary", "PolicyVersionList": [
                {"Document": BOUNDARY, "VersionId": "v1", "IsDefaultVersion": True}]}],
    }
    doc.update(overrides)
    return doc


def load(tmp_path, doc, access_keys=(), users=()):
    (tmp_path / "auth.json").write_text(json.dumps(doc))
    raw = {"authorization_details": "auth.json", "users": list(users), "access_keys": list(access_keys)}
    return load_identities(IdentitiesConfig.model_validate(raw), root=tmp_path, file=tmp_path / "lychgate.yaml", account_id="111122223333")


def decide(identity, resource):
    request = AuthzRequest("execute-api:Invoke", resource, identity.principal, identity.context_keys())
    boundary = (identity.boundary,) if identity.boundary else None
    return authorize(request, identity=identity.policies, boundary=boundary).decision


def test_user_with_inline_group_managed_default_version_and_boundary(tmp_path):
    store, problems = load(tmp_path, dump(), access_keys=[{"id": "AKIABOB0000000000001", "secret": "s", "user": "bob"}])
    assert problems == []
    bob = store.owner("AKIABOB0000000000001")
    assert bob.arn == "arn:aws:iam::111122223333:user/bob" and bob.userid == "AIDABOB00000000000001"
    assert bob.context_keys()["aws:PrincipalTag/team"] == "blue" and bob.context_keys()["aws:username"] == "bob"
    assert len(bob.policies) == 2  # the URL-encoded inline policy and the group's managed policy (default version v2)
    assert decide(bob, "arn:aws:execute-api:us-east-1:111122223333:api/prod/DELETE/x") is Decision.ALLOW
    # The boundary caps the group's Allow-all to the prod stage.
    assert decide(bob, "arn:aws:execute-api:us-east-1:111122223333:api/test/GET/pets") is Decision.IMPLICIT_DENY
    assert store.credentials("AKIABOB0000000000001").secret_access_key == "s"


def test_role_session_keys(tmp_path):
    key = {"id": "ASIAWORKER000000001", "secret": "s", "role": "worker", "session_name": "job-1",
           "session_token": "tok", "session_tags": {"env": "prod"}}
    store, problems = load(tmp_path, dump(), access_keys=[key])
    assert problems == []
    session = store.owner("ASIAWORKER000000001")
    assert session.arn == "arn:aws:sts::111122223333:assumed-role/worker/job-1"
    assert session.principal_arn == "arn:aws:iam::111122223333:role/svc/worker"
    assert session.userid == "AROAWORKER0000000001:job-1"
    keys = session.context_keys()
    assert keys["aws:PrincipalType"] == "AssumedRole" and "aws:username" not in keys
    assert keys["aws:PrincipalTag/env"] == "prod"  # session tags override role tags
    assert "aws:TokenIssueTime" in keys and keys["aws:MultiFactorAuthPresent"] == "false"
    assert store.credentials("ASIAWORKER000000001").session_token == "tok"
    assert decide(session, "arn:aws:execute-api:us-east-1:111122223333:api/prod/GET/pets") is Decision.ALLOW
    assert "arn:aws:iam::111122223333:role/svc/worker" in store.principals


def test_quick_start_user(tmp_path):
    user = {"name": "alice", "access_keys": [{"id": "AKIAALICE0000000001", "secret": "x"}], "tags": {"team": "red"},
            "policies": [ALLOW_PETS]}
    store, problems = load(tmp_path, dump(), users=[user])
    alice = store.owner("AKIAALICE0000000001")
    assert problems == [] and alice.arn == "arn:aws:iam::111122223333:user/alice"
    assert alice.userid.startswith("AIDA") and len(alice.userid) == 21


@pytest.mark.parametrize("mutate,pointer,fragment", [
    (lambda d: d["UserDetailList"][0]["AttachedManagedPolicies"].append(
        {"PolicyName": "Gone", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
     "/UserDetailList/0/AttachedManagedPolicies/0/PolicyArn", "is not in the file's Policies list"),
    (lambda d: d["UserDetailList"][0]["GroupList"].append("ghosts"), "/UserDetailList/0/GroupList/1", "'ghosts'"),
    (lambda d: d["RoleDetailList"][0]["RolePolicyList"][0].update(PolicyDocument={"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}),
     "/RoleDetailList/0/RolePolicyList/0/PolicyDocument/Statement/0", "worker/p"),
    (lambda d: d["Policies"][1]["PolicyVersionList"][0].update(IsDefaultVersion=False),
     "/Policies/1/PolicyVersionList", "IsDefaultVersion"),
])
def test_broken_dumps_name_the_pointer(tmp_path, mutate, pointer, fragment):
    doc = dump()
    mutate(doc)
    _, problems = load(tmp_path, doc)
    assert any(p.file.endswith("auth.json") and p.pointer.startswith(pointer) and fragment in p.message for p in problems), problems


def test_unknown_key_owner(tmp_path):
    _, problems = load(tmp_path, dump(), access_keys=[{"id": "AKIAX00000000000001", "secret": "s", "user": "nobody"},
                                                      {"id": "ASIAX00000000000001", "secret": "s", "role": "nope"}])
    assert [p.pointer for p in problems] == ["/identities/access_keys/0/user", "/identities/access_keys/1/role"]


# Found by fuzzing (fuzz/config.py, issue #8): elements of the wrong type used to crash the loader
# (TypeError, AttributeError, IndexError, ValueError) instead of being problems at their pointer.
@pytest.mark.parametrize("mutate,pointer,fragment", [
    (lambda d: d.update(UserDetailList={"bob": {}}), "/UserDetailList", "expected a list of objects"),
    (lambda d: d["UserDetailList"].append("carol"), "/UserDetailList/1", "expected an object"),
    (lambda d: d["UserDetailList"][0].update(Arn="bob"), "/UserDetailList/0/Arn", "expected an ARN"),
    (lambda d: d["UserDetailList"][0].update(GroupList="admins"), "/UserDetailList/0/GroupList", "a list of group names"),
    (lambda d: d["UserDetailList"][0]["GroupList"].append(["admins"]), "/UserDetailList/0/GroupList/1", "['admins']"),
    (lambda d: d["UserDetailList"][0].update(PermissionsBoundary="Boundary"), "/UserDetailList/0/PermissionsBoundary",
     "expected an object"),
    (lambda d: d["UserDetailList"][0]["Tags"].append({"Key": ["k"], "Value": "v"}), "/UserDetailList/0/Tags/1/Key",
     "expected a string"),
    (lambda d: d["UserDetailList"][0]["UserPolicyList"][0].update(PolicyDocument="not json"),
     "/UserDetailList/0/UserPolicyList/0/PolicyDocument", "invalid JSON"),
    (lambda d: d["GroupDetailList"][0].update(GroupName=["admins"]), "/GroupDetailList/0/GroupName", "a string"),
    (lambda d: d["GroupDetailList"][0]["AttachedManagedPolicies"][0].update(PolicyArn=["x"]),
     "/GroupDetailList/0/AttachedManagedPolicies/0/PolicyArn", "a string"),
    (lambda d: d["RoleDetailList"][0].update(RoleName=None), "/RoleDetailList/0/RoleName", "a string"),
    (lambda d: d["Policies"][0].update(PolicyVersionList=[7]), "/Policies/0/PolicyVersionList/0", "an object"),
    (lambda d: d["Policies"][0].update(Arn={"a": 1}), "/Policies/0/Arn", "a string"),
])
def test_mistyped_dumps_name_the_pointer(tmp_path, mutate, pointer, fragment):
    test_broken_dumps_name_the_pointer(tmp_path, mutate, pointer, fragment)
