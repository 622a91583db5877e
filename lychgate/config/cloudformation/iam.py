"""IAM resources of a template -> lychgate identities: quick-start users and an authorization dump.

``AWS::IAM::User`` becomes a quick-start user whose ``policies`` are every document that applies
to it (inline ``Policies``, ``AWS::IAM::Policy`` and ``ManagedPolicy`` resources naming it or its
groups, attached managed policies). Roles go into an ``authorization_details`` document in the
shape ``aws iam get-account-authorization-details`` prints (``RoleDetailList``, ``Policies`` with
``PolicyVersionList``). Managed policies are the template's own, or the few AWS-managed ones whose
documents are bundled here; any other attachment is reported and left out, never guessed.
"""

from __future__ import annotations

import json
from typing import Any

from lychgate.config.cloudformation.stack import Stack
from lychgate.config.identities import unique_id
from lychgate.config.source import pointer

P = "AWS::IAM::"
USER, ROLE, GROUP, POLICY, MANAGED, ADDITION = (P + k for k in ("User", "Role", "Group", "Policy", "ManagedPolicy",
                                                                "UserToGroupAddition"))
ACCESS_KEY = P + "AccessKey"
CONSUMED = {USER, ROLE, GROUP, POLICY, MANAGED, ADDITION, ACCESS_KEY}  # access keys: reported here
DETAILS_DOCUMENT = "iam/authorization-details.json"
_ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
#: AWS-managed policies SAM attaches by default or that grant execute-api, with their documents.
AWS_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}],
    "arn:aws:iam::aws:policy/AmazonAPIGatewayInvokeFullAccess": [
        {"Effect": "Allow", "Action": ["execute-api:Invoke", "execute-api:ManageConnections"],
         "Resource": "arn:aws:execute-api:*:*:*"}],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                                       "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"], "Resource": ["*"]}],
    "arn:aws:iam::aws:policy/AdministratorAccess": [_ALLOW_ALL],
}


def identities(stack: Stack) -> tuple[dict | None, dict | None]:
    """(the ``identities`` section, the authorization-details document or None)."""
    managed = _managed_policies(stack)
    users = [_user(stack, lid, managed) for lid, _ in stack.active(USER)]
    roles = [_role(stack, lid, managed) for lid, _ in stack.active(ROLE)]
    for lid, _ in stack.active(ACCESS_KEY):
        stack.problems.warning(pointer("Resources", lid), "the secret of an AWS::IAM::AccessKey exists only in AWS: "
                                                          "declare a key for local use under identities.access_keys")
    if not users and not roles:
        return None, None
    section: dict[str, Any] = {"users": users} if users else {}
    if not roles:
        return section, None
    used = {a["PolicyArn"] for r in roles for a in r["AttachedManagedPolicies"]}
    used |= {r["PermissionsBoundary"]["PermissionsBoundaryArn"] for r in roles if "PermissionsBoundary" in r}
    details = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": roles,
               "Policies": [_policy_detail(arn, managed[arn]) for arn in sorted(used)]}
    section["authorization_details"] = DETAILS_DOCUMENT
    return section, details


def _document(stack: Stack, value: Any, ptr: str) -> dict | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if not isinstance(value, dict):
        stack.problems.expected(ptr, "a policy document", value)
        return None
    return value


def _policy_document(stack: Stack, lid: str) -> dict | None:
    return _document(stack, stack.prop(lid, "PolicyDocument"), pointer("Resources", lid, "Properties", "PolicyDocument"))


def _managed_policies(stack: Stack) -> dict[str, dict]:
    """Managed policy ARN -> {name, document, users, groups, roles}: the template's and bundled AWS ones."""
    out = {arn: {"name": arn.rsplit("/", 1)[-1], "document": {"Version": "2012-10-17", "Statement": statements},
                 "users": [], "groups": [], "roles": []} for arn, statements in AWS_MANAGED.items()}
    for lid, _ in stack.active(MANAGED):
        arn = f"arn:{stack.partition}:iam::{stack.account_id}:policy/{stack.named(lid)}"
        document = _policy_document(stack, lid)
        out[arn] = {"name": arn.rsplit("/", 1)[-1], "document": document or {}, "users": stack.prop(lid, "Users") or [],
                    "groups": stack.prop(lid, "Groups") or [], "roles": stack.prop(lid, "Roles") or []}
    return out


def _attached(stack: Stack, lid: str, kind: str, name: str, managed: dict) -> list[str]:
    """ARNs of the managed policies attached to a user, group or role (both directions), known ones only."""
    arns = list(stack.prop(lid, "ManagedPolicyArns") or [])
    arns += [arn for arn, p in managed.items() if name in p[kind] and arn not in arns]
    known = []
    for arn in arns:
        if arn in managed:
            known.append(arn)
        else:
            stack.problems.warning(pointer("Resources", lid, "Properties", "ManagedPolicyArns"),
                                   f"managed policy {arn} is not defined in the template and its document is not "
                                   f"known offline: {lid} is evaluated without it")
    return known


def _inline(stack: Stack, lid: str, kind: str, name: str) -> list[tuple[str, dict]]:
    """(policy name, document) of inline ``Policies`` and of ``AWS::IAM::Policy`` resources naming it."""
    out = []
    for i, item in enumerate(stack.prop(lid, "Policies") or []):
        doc = _document(stack, (item or {}).get("PolicyDocument"), pointer("Resources", lid, "Properties", "Policies", i))
        if doc is not None:
            out.append((str(item.get("PolicyName") or f"inline-{i}"), doc))
    for plid, _ in stack.active(POLICY):
        if name in (stack.prop(plid, kind) or []):
            doc = _policy_document(stack, plid)
            if doc is not None:
                out.append((str(stack.prop(plid, "PolicyName") or plid), doc))
    return out


def _user(stack: Stack, lid: str, managed: dict) -> dict:
    name = stack.named(lid)
    documents = [doc for _, doc in _inline(stack, lid, "Users", name)]
    documents += [managed[arn]["document"] for arn in _attached(stack, lid, "users", name, managed)]
    for group in _groups_of(stack, lid, name):
        documents += [doc for _, doc in _inline(stack, group, "Groups", stack.named(group))]
        documents += [managed[arn]["document"] for arn in _attached(stack, group, "groups", stack.named(group), managed)]
    user: dict[str, Any] = {"name": name, "policies": documents}
    if _tags(stack, lid):
        user["tags"] = {t["Key"]: t["Value"] for t in _tags(stack, lid)}
    return user


def _groups_of(stack: Stack, lid: str, name: str) -> list[str]:
    """Logical ids of the template's groups the user belongs to (User.Groups, UserToGroupAddition)."""
    names = set(stack.prop(lid, "Groups") or [])
    for alid, _ in stack.active(ADDITION):
        if name in (stack.prop(alid, "Users") or []):
            names.add(stack.prop(alid, "GroupName"))
    return [glid for glid, _ in stack.active(GROUP) if stack.named(glid) in names]


def _role(stack: Stack, lid: str, managed: dict) -> dict:
    name, path = stack.named(lid), str(stack.prop(lid, "Path", "/"))
    arn = f"arn:{stack.partition}:iam::{stack.account_id}:role{path}{name}"
    role: dict[str, Any] = {
        "Path": path, "RoleName": name, "RoleId": unique_id("AROA", lid), "Arn": arn,
        "AssumeRolePolicyDocument": stack.prop(lid, "AssumeRolePolicyDocument") or {}, "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in _inline(stack, lid, "Roles", name)],
        "AttachedManagedPolicies": [{"PolicyName": managed[a]["name"], "PolicyArn": a}
                                    for a in _attached(stack, lid, "roles", name, managed)],
        "Tags": _tags(stack, lid)}
    boundary = stack.prop(lid, "PermissionsBoundary")
    if boundary in managed:
        role["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
    elif boundary:
        stack.problems.warning(pointer("Resources", lid, "Properties", "PermissionsBoundary"),
                               f"permissions boundary {boundary} is not known offline: {lid} is evaluated without it")
    return role


def _tags(stack: Stack, lid: str) -> list[dict]:
    return [{"Key": str(t.get("Key")), "Value": str(t.get("Value"))}
            for t in stack.prop(lid, "Tags") or [] if isinstance(t, dict)]


def _policy_detail(arn: str, policy: dict) -> dict:
    return {"PolicyName": policy["name"], "PolicyId": unique_id("ANPA", arn), "Arn": arn,
            "Path": "/", "DefaultVersionId": "v1", "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "PolicyVersionList": [{"Document": policy["document"], "VersionId": "v1", "IsDefaultVersion": True}]}
