"""IAM identities: who owns each access key, and which policies apply to them.

Sources (spec iam-and-sigv4 A8): the JSON ``aws iam get-account-authorization-details`` prints
(users, groups, roles, managed and inline policies, permissions boundaries, tags), the
``access_keys`` list that maps keys to its users and to role sessions, and quick-start users
declared in ``lychgate.yaml`` (read from the validated ``identities`` section itself: a copy of
10,000 users' policies, freed after loading, would leave its memory resident). Every policy is
compiled once here; a bad document is a problem naming its file and JSON pointer. A referenced
managed policy missing from the dump is an error, never silently skipped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote

from lychgate.config.model import EMPTY
from lychgate.config.schema import AccessKeyConfig, IdentitiesConfig, UserConfig
from lychgate.config.source import Problems, load_document, pointer
from lychgate.iam import Policy, PolicyError, PolicySource, Principal, SharedParts, compile_policy
from lychgate.sigv4 import SigningCredentials


@dataclass(frozen=True, slots=True)
class Identity:
    """An IAM user, or a session of an IAM role, with everything evaluation needs (slots: a
    project may declare thousands)."""

    arn: str  # user ARN, or session ARN arn:aws:sts::A:assumed-role/R/S
    principal_arn: str  # aws:PrincipalArn: the user ARN, or the role ARN for sessions
    account: str
    userid: str  # aws:userid: AIDA… or AROA…:session
    username: str | None  # aws:username (users only)
    tags: Mapping[str, str]
    policies: tuple[Policy, ...]
    boundary: Policy | None = None
    role_arn: str | None = None
    issued_at: float | None = None  # temporary credentials only
    _principal: Principal | None = field(default=None, init=False, repr=False, compare=False)
    _context_keys: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def principal(self) -> Principal:
        """The caller as the IAM engine sees it; built once."""
        principal = self._principal
        if principal is None:
            kind = "AssumedRole" if self.role_arn else "User"
            principal = Principal(arn=self.arn, account=self.account, role_arn=self.role_arn,
                                  userid=self.userid, principal_type=kind)
            object.__setattr__(self, "_principal", principal)
        return principal

    def context_keys(self) -> dict[str, Any]:
        """The caller's condition keys (spec A7); built once, do not modify the result."""
        keys = self._context_keys
        if keys is None:
            keys = self._build_context_keys()
            object.__setattr__(self, "_context_keys", keys)
        return keys

    def _build_context_keys(self) -> dict[str, Any]:
        keys: dict[str, Any] = {
            "aws:PrincipalArn": self.principal_arn, "aws:PrincipalAccount": self.account,
            "aws:PrincipalType": "AssumedRole" if self.role_arn else "User", "aws:userid": self.userid,
        }
        if self.username:
            keys["aws:username"] = self.username
        for key, value in self.tags.items():
            keys[f"aws:PrincipalTag/{key}"] = value
        if self.issued_at is not None:
            keys["aws:TokenIssueTime"] = _iso(self.issued_at)
            keys["aws:MultiFactorAuthPresent"] = "false"
        return keys


@dataclass(frozen=True, slots=True)
class AccessKey:
    credentials: SigningCredentials
    identity: Identity


@dataclass
class IdentityStore:
    """Access key id -> its owner. Empty when the project declares no identities."""

    keys: dict[str, AccessKey] = field(default_factory=dict)
    principals: dict[str, Identity] = field(default_factory=dict)
    """Users and roles by ARN (what ``simulate-principal-policy --policy-source-arn`` names)."""

    def credentials(self, access_key_id: str) -> SigningCredentials | None:
        found = self.keys.get(access_key_id)
        return found.credentials if found else None

    def owner(self, access_key_id: str) -> Identity | None:
        found = self.keys.get(access_key_id)
        return found.identity if found else None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def unique_id(prefix: str, name: str) -> str:
    """A stable IAM-style unique id (``AIDA`` + 17 characters) for quick-start identities."""
    digest = hashlib.sha256(name.encode()).hexdigest().upper()
    return prefix + "".join(c if c.isalpha() else chr(ord("A") + int(c)) for c in digest[:17])


class _Compiler:
    """Compiles policy documents, recording PolicyErrors as problems at the right pointer. The
    policies of one load share their equal parts (thousands of users' policies differ in little)."""

    def __init__(self, problems: Problems):
        self.problems = problems
        self.shared = SharedParts()

    def compile(self, document: Any, name: str, ptr: str, kind: str = "identity") -> Policy | None:
        source = PolicySource(name=name, file=self.problems.file, pointer=ptr, kind=kind)
        try:
            return compile_policy(document, source, shared=self.shared)
        except PolicyError as exc:
            self.problems.error(ptr + exc.pointer, f"policy {name}: {exc.message}")
            return None


def load_identities(config: IdentitiesConfig | None, *, root: Path, file: Path, account_id: str,
                    documents: Mapping[str, Any] | None = None) -> tuple[IdentityStore, list]:
    """Identities from the ``identities`` section of ``lychgate.yaml``; returns (store, problems)."""
    store = IdentityStore()
    if config is None:
        return store, []
    problems = Problems(file)
    principals: dict[str, Identity] = {}
    roles: dict[str, dict] = {}
    all_problems = []
    if config.authorization_details:
        name = config.authorization_details
        dump_problems, users, roles = _load_dump(root / name, (documents or {}).get(name))
        principals.update(users)
        all_problems += dump_problems
    quick = _quick_start_users(config.users, account_id, problems)
    principals.update(quick)
    for i, user in enumerate(config.users):
        for j, key in enumerate(user.access_keys):
            _add_key(store, SigningCredentials(access_key_id=key.id, secret_access_key=key.secret),
                     quick[user.name], pointer("identities", "users", i, "access_keys", j), problems)
    _access_keys(config.access_keys, principals, roles, store, problems)
    store.principals.update({u.arn: u for u in principals.values()})
    store.principals.update({r["arn"]: _role_identity(r) for r in roles.values()})
    return store, all_problems + problems.items


def _role_identity(role: dict) -> Identity:
    """A role as a policy source (not a session): its own ARN, its policies."""
    return Identity(arn=role["arn"], principal_arn=role["arn"], account=role["account"], userid=role["id"],
                    username=None, tags=role["tags"], policies=role["policies"], boundary=role["boundary"])


def _quick_start_users(users: list[UserConfig], account_id: str, problems: Problems) -> dict[str, Identity]:
    compiler = _Compiler(problems)
    out = {}
    for i, user in enumerate(users):
        name = user.name
        policies = [compiler.compile(doc, f"{name}/inline-{j}", pointer("identities", "users", i, "policies", j))
                    for j, doc in enumerate(user.policies)]
        arn = f"arn:aws:iam::{account_id}:user/{name}"
        identity = Identity(
            arn=arn, principal_arn=arn,
            account=account_id, userid=unique_id("AIDA", name), username=name,
            tags=dict(user.tags) if user.tags else EMPTY, policies=tuple(p for p in policies if p is not None))
        out[name] = identity
    return out


def _access_keys(entries: list[AccessKeyConfig], users: dict[str, Identity], roles: dict[str, dict],
                 store: IdentityStore, problems: Problems) -> None:
    for i, entry in enumerate(entries):
        ptr = pointer("identities", "access_keys", i)
        identity = _key_owner(entry, users, roles, ptr, problems)
        if identity is not None:
            credentials = SigningCredentials(access_key_id=entry.id, secret_access_key=entry.secret,
                                             session_token=entry.session_token, expires_at=_epoch(entry.expiration))
            _add_key(store, credentials, identity, ptr, problems)


def _key_owner(entry: AccessKeyConfig, users: dict[str, Identity], roles: dict[str, dict], ptr: str,
               problems: Problems) -> Identity | None:
    if entry.user:
        owner = users.get(entry.user)
        if owner is None:
            problems.error(ptr + "/user", f"no user named {entry.user!r} (known: {', '.join(sorted(users)) or 'none'})")
        return owner
    role = roles.get(entry.role or "")
    if role is None:
        problems.error(ptr + "/role", f"no role named {entry.role!r} in authorization_details "
                                      f"(known: {', '.join(sorted(roles)) or 'none'})")
        return None
    session = entry.session_name or "session"
    issued = _epoch(entry.issued_at) or datetime.now(timezone.utc).timestamp()
    return Identity(
        arn=f"arn:aws:sts::{role['account']}:assumed-role/{role['name']}/{session}",
        principal_arn=role["arn"], account=role["account"], userid=f"{role['id']}:{session}", username=None,
        tags={**role["tags"], **entry.session_tags}, policies=role["policies"],
        boundary=role["boundary"], role_arn=role["arn"], issued_at=issued)


def _add_key(store: IdentityStore, credentials: SigningCredentials, identity: Identity, ptr: str,
             problems: Problems) -> None:
    key_id = credentials.access_key_id
    if key_id in store.keys:
        problems.error(ptr + "/id", f"access key {key_id!r} is declared twice")
        return
    store.keys[key_id] = AccessKey(credentials, identity)


def _epoch(moment: datetime | None) -> float | None:
    """Epoch seconds of a validated date-time (naive: UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _load_dump(path: Path, doc: Any = None) -> tuple[list, dict[str, Identity], dict[str, dict]]:
    """Users (by name) and roles (by name) of an authorization-details dump (read from ``path`` unless given).

    The dump is read defensively: an element of the wrong type is a problem at its pointer, never a crash.
    """
    doc = load_document(path, str(path)) if doc is None else doc
    problems = Problems(path)
    if not isinstance(doc, dict):
        problems.expected("", "the JSON printed by `aws iam get-account-authorization-details`", doc)
        return problems.items, {}, {}
    compiler = _Compiler(problems)
    managed = _Managed(doc, compiler)
    groups = {g["GroupName"]: (i, g) for i, g in _objects(doc, "GroupDetailList", "", problems)
              if _string(g, "GroupName", pointer("GroupDetailList", i), problems)}
    users = {}
    for i, user in _objects(doc, "UserDetailList", "", problems):
        identity = _dump_user(user, i, groups, managed, compiler)
        if identity is not None:
            users[user["UserName"]] = identity
    roles = {r["RoleName"]: _dump_role(r, i, managed, compiler) for i, r in _objects(doc, "RoleDetailList", "", problems)
             if _string(r, "RoleName", pointer("RoleDetailList", i), problems)}
    return problems.items, users, roles


def _objects(container: dict, key: str, ptr: str, problems: Problems) -> list[tuple[int, dict]]:
    """(index, object) of the list ``container[key]`` (absent: none); any other shape is a problem."""
    raw = container.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.expected(ptr + pointer(key), "a list of objects", raw)
        return []
    found = []
    for i, entry in enumerate(raw):
        if isinstance(entry, dict):
            found.append((i, entry))
        else:
            problems.expected(ptr + pointer(key, i), "an object", entry)
    return found


def _string(entity: dict, key: str, ptr: str, problems: Problems, required: bool = True) -> bool:
    """Whether ``entity[key]`` is a string; if not (and present or required), a problem."""
    value = entity.get(key)
    if isinstance(value, str):
        return True
    if required or value is not None:
        problems.expected(ptr + pointer(key), "a string", value)
    return False


class _Managed:
    """Managed policies of a dump by ARN, compiled on first use for each kind (identity, boundary)."""

    def __init__(self, doc: dict, compiler: _Compiler):
        self.compiler = compiler
        self.raw = _managed_policies(doc, compiler)
        self.compiled: dict[tuple[str, str], Policy | None] = {}

    def __contains__(self, arn: str) -> bool:
        return arn in self.raw

    def get(self, arn: str, kind: str = "identity") -> Policy | None:
        if arn not in self.raw:
            return None
        if (arn, kind) not in self.compiled:
            document, ptr = self.raw[arn]
            self.compiled[arn, kind] = self.compiler.compile(document, arn, ptr, kind)
        return self.compiled[arn, kind]


def _managed_policies(doc: dict, compiler: _Compiler) -> dict[str, tuple[Any, str]]:
    """Managed policy ARN -> (its default version's document, its pointer)."""
    out = {}
    problems = compiler.problems
    for i, policy in _objects(doc, "Policies", "", problems):
        ptr = pointer("Policies", i)
        versions = _objects(policy, "PolicyVersionList", ptr, problems)
        default = next(((j, v) for j, v in versions if v.get("IsDefaultVersion")), None)
        if default is None:
            problems.error(ptr + "/PolicyVersionList", "no version has IsDefaultVersion: true")
            continue
        if not _string(policy, "Arn", ptr, problems):
            continue
        j, version = default
        out[policy["Arn"]] = (_decode(version.get("Document")), ptr + pointer("PolicyVersionList", j, "Document"))
    return out


def _decode(document: Any) -> Any:
    """The raw IAM API returns URL-encoded JSON strings; the CLI decodes them (spec A8).
    Text that is not JSON either way is returned as is, for ``compile_policy`` to report."""
    if not isinstance(document, str):
        return document
    first = unquote(document) if document.lstrip().startswith("%") else document
    for text in (first, unquote(document)):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            continue
    return document


def _inline(entity: dict, key: str, owner: str, ptr: str, compiler: _Compiler) -> list[Policy | None]:
    return [compiler.compile(_decode(p.get("PolicyDocument")), f"{owner}/{p.get('PolicyName')}",
                             ptr + pointer(key, j, "PolicyDocument"))
            for j, p in _objects(entity, key, ptr, compiler.problems)]


def _attached(entity: dict, managed: _Managed, ptr: str, compiler: _Compiler) -> list[Policy | None]:
    out = []
    for j, attachment in _objects(entity, "AttachedManagedPolicies", ptr, compiler.problems):
        where = ptr + pointer("AttachedManagedPolicies", j)
        if not _string(attachment, "PolicyArn", where, compiler.problems):
            continue
        arn = attachment["PolicyArn"]
        if arn not in managed:
            compiler.problems.error(where + "/PolicyArn",
                                    f"managed policy {arn} is not in the file's Policies list "
                                    "(dump it with: aws iam get-account-authorization-details, no --filter)")
        out.append(managed.get(arn))
    return out


def _boundary(entity: dict, managed: _Managed, ptr: str, compiler: _Compiler) -> Policy | None:
    boundary = entity.get("PermissionsBoundary")
    if boundary is None:
        return None
    where = ptr + "/PermissionsBoundary"
    if not isinstance(boundary, dict):
        compiler.problems.expected(where, "an object", boundary)
        return None
    if not _string(boundary, "PermissionsBoundaryArn", where, compiler.problems, required=False):
        return None
    arn = boundary["PermissionsBoundaryArn"]
    if arn not in managed:
        compiler.problems.error(where + "/PermissionsBoundaryArn",
                                f"permissions boundary {arn} is not in the file's Policies list")
        return None
    return managed.get(arn, "boundary")


def _tags(entity: dict, ptr: str, problems: Problems) -> dict[str, str]:
    return {t["Key"]: t["Value"] for j, t in _objects(entity, "Tags", ptr, problems)
            if _string(t, "Key", ptr + pointer("Tags", j), problems)
            and _string(t, "Value", ptr + pointer("Tags", j), problems)}


def _account(arn: str, ptr: str, problems: Problems) -> str:
    """The account field of an ARN; a string that is not an ARN is a problem."""
    fields = arn.split(":", 5)
    if len(fields) != 6 or fields[0] != "arn":
        problems.expected(ptr, "an ARN such as arn:aws:iam::123456789012:user/NAME", arn)
        return ""
    return fields[4]


def _dump_user(user: dict, i: int, groups: dict, managed: _Managed, compiler: _Compiler) -> Identity | None:
    ptr = pointer("UserDetailList", i)
    problems = compiler.problems
    if not all([_string(user, key, ptr, problems) for key in ("UserName", "Arn", "UserId")]):
        return None
    name = user["UserName"]
    policies = _inline(user, "UserPolicyList", name, ptr, compiler)
    policies += _attached(user, managed, ptr, compiler)
    group_names = user.get("GroupList") or []
    if not isinstance(group_names, list):
        problems.expected(ptr + "/GroupList", "a list of group names", group_names)
        group_names = []
    for j, group_name in enumerate(group_names):
        if not isinstance(group_name, str) or group_name not in groups:
            problems.error(ptr + pointer("GroupList", j), f"group {group_name!r} is not in GroupDetailList")
            continue
        gi, group = groups[group_name]
        gptr = pointer("GroupDetailList", gi)
        policies += _inline(group, "GroupPolicyList", group_name, gptr, compiler)
        policies += _attached(group, managed, gptr, compiler)
    return Identity(arn=user["Arn"], principal_arn=user["Arn"], account=_account(user["Arn"], ptr + "/Arn", problems),
                    userid=user["UserId"], username=name, tags=_tags(user, ptr, problems),
                    policies=tuple(p for p in policies if p is not None),
                    boundary=_boundary(user, managed, ptr, compiler))


def _dump_role(role: dict, i: int, managed: _Managed, compiler: _Compiler) -> dict:
    ptr = pointer("RoleDetailList", i)
    problems = compiler.problems
    name = role["RoleName"]
    policies = _inline(role, "RolePolicyList", name, ptr, compiler)
    policies += _attached(role, managed, ptr, compiler)
    arn = role["Arn"] if _string(role, "Arn", ptr, problems) else ""
    role_id = role["RoleId"] if _string(role, "RoleId", ptr, problems, required=False) else ""
    return {"name": name, "arn": arn, "id": role_id, "account": _account(arn, ptr + "/Arn", problems) if arn else "",
            "tags": _tags(role, ptr, problems), "policies": tuple(p for p in policies if p is not None),
            "boundary": _boundary(role, managed, ptr, compiler)}
