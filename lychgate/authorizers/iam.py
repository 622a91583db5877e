"""AWS_IAM: SigV4 verification against the project's identities, and IAM authorization.

``authenticate`` turns a signed request into the ``Identity`` that owns the key, or into the
gateway error AWS answers (spec iam-and-sigv4 B6). ``authorize`` asks the IAM engine whether
that caller (or an anonymous one) may ``execute-api:Invoke`` the method ARN, combining the
caller's policies with the API's resource policy (spec gateway-behavior §1.3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any, Hashable

from lychgate.config.identities import Identity, IdentityStore
from lychgate.cors import is_preflight
from lychgate.errors import (AccessDenied, ExpiredToken, GatewayError, InvalidSignature,
                             MissingAuthenticationToken)
from lychgate.iam import AuthzRequest, Decision, Evaluation, Policy, authorize as iam_authorize, evaluate_policies
from lychgate.iam import denial_message
from lychgate.messages import Request
from lychgate.sigv4 import SigV4Error, SigV4ErrorKind, parse_authorization_header, verify, verify_sdk_request

INVOKE = "execute-api:Invoke"
_NO_IDENTITIES = IdentityStore()
#: The actions execute-api has (lower case); any other name matches nothing.
EXECUTE_API_ACTIONS = ("execute-api:invoke", "execute-api:invalidatecache", "execute-api:managetoconnections")


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated SigV4 caller (one per access key, shared by its requests: see ``authenticate``)."""

    identity: Identity
    access_key_id: str


class _Credentials(dict):
    """Access key id -> its credentials in one identity store, each found there once (the lookup
    ``verify`` calls on every signed request: a dict's own, the cheapest). Unknown keys are not kept."""

    __slots__ = ("store",)

    def __init__(self, store: IdentityStore):
        super().__init__()
        self.store = store

    def __missing__(self, key_id: str):
        credentials = self.store.credentials(key_id)
        if credentials is not None:
            self[key_id] = credentials
        return credentials


class _Callers(dict):
    """Access key id -> the ``Caller`` of a key of one identity store, made once: its requests share it."""

    __slots__ = ("store",)

    def __init__(self, store: IdentityStore):
        super().__init__()
        self.store = store

    def __missing__(self, key_id: str) -> Caller:
        caller = self[key_id] = Caller(self.store.keys[key_id].identity, key_id)
        return caller


# What is known about the keys of the identity store in use: a reload brings a new store, and
# the first request it serves starts afresh. At most one entry per key of the store.
_known: tuple = (None, None, None)  # (store, its _Credentials' lookup, its _Callers)


def _start_knowing(store: IdentityStore) -> tuple:
    global _known
    _known = (store, _Credentials(store).__getitem__, _Callers(store))
    return _known


def sigv4_error(error: SigV4Error) -> GatewayError:
    """The gateway error for a SigV4 failure: AWS's status, x-amzn-ErrorType and text (spec B6)."""
    kind = error.kind
    if kind is SigV4ErrorKind.MISSING_AUTHENTICATION_TOKEN:
        return MissingAuthenticationToken(detail=f"the method's authorization type is AWS_IAM but the request is not "
                                                 f"signed: {error.detail}", cause="missing_signature")
    if kind is SigV4ErrorKind.INCOMPLETE_SIGNATURE:
        # The response type of this case is unconfirmed; AWS customisation reports point at MAT.
        return MissingAuthenticationToken(error.message, error_type=error.error_type, detail=error.detail,
                                          cause="not_sigv4")
    if kind is SigV4ErrorKind.EXPIRED_TOKEN:
        return ExpiredToken(error.message, detail=error.detail, cause="expired_token")
    if kind is SigV4ErrorKind.UNRECOGNIZED_CLIENT:
        return InvalidSignature(error.message, error_type=error.error_type, detail=error.detail, cause="unknown_access_key")
    cause = "signature_expired" if error.message.startswith("Signature ") else "signature_mismatch"
    return InvalidSignature(error.message, error_type=error.error_type, detail=error.detail, cause=cause)


def authenticate(request: Request, identities: IdentityStore | None, region: str,
                 now: float | None = None) -> Caller | GatewayError:
    """Verify the request's SigV4 signature (header or presigned query) and find its owner."""
    store = identities or _NO_IDENTITIES
    known = _known if _known[0] is store else _start_knowing(store)
    if now is None:
        now = time.time()
    # The one pass first, called directly (a call less than through ``verify``), as ``verify`` would.
    result = verify_sdk_request(request.method, request.raw_path, request.raw_query, request.headers, request.body,
                                known[1], region, "execute-api", now, False)
    if result is None:
        result = verify(request.method, request.raw_path, request.raw_query, request.headers, request.body,
                        lookup=known[1], region=region, now=now, one_pass=False)
    if type(result) is SigV4Error:
        return _about_this_request(sigv4_error(result), request)
    return known[2][result.access_key_id]


def _about_this_request(error: GatewayError, request: Request) -> GatewayError:
    """Our sentence names the access key that signed the request, or says it is a CORS preflight."""
    if error.cause == "missing_signature" and is_preflight(request):
        error.detail = (f"the method's authorization type is AWS_IAM and this request ({request.method} "
                        f"{request.raw_path}) is a CORS preflight, which browsers send without credentials, so every "
                        "preflight is refused: give the OPTIONS method authorization NONE")
        return error
    key = _access_key_id(request)
    if key and key not in error.detail:
        error.detail = f"access key {key}: {error.detail}"
    return error


def _access_key_id(request: Request) -> str | None:
    """The access key id the request claims (Authorization header or presigned query), if any."""
    header = request.header("authorization")
    if header is not None:
        parts = parse_authorization_header(header)
        credential = None if isinstance(parts, SigV4Error) else parts.credential
    else:
        credential = next((value for name, value in request.query if name == "X-Amz-Credential"), None)
    return credential.split("/", 1)[0] if credential else None


def unmatched_route_error(request: Request, detail: str) -> GatewayError:
    """An unmatched REST route: MAT, unless an Authorization header fails to parse as SigV4 (spec §1.1)."""
    header = request.header("authorization")
    if header is not None:
        parsed = parse_authorization_header(header)
        if isinstance(parsed, SigV4Error):
            return sigv4_error(parsed)
    return MissingAuthenticationToken(detail=detail, cause="no_route")


_time_text: list = [None, ""]


def _current_time(epoch: int) -> str:
    """``aws:CurrentTime`` text, formatted once per second."""
    if _time_text[0] != epoch:
        _time_text[0], _time_text[1] = epoch, datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _time_text[1]


def context_keys(request: Request, region: str, caller: Caller | None) -> dict[str, Any]:
    """Condition keys of an API Gateway call (spec A7)."""
    received = int(request.received_at or time.time())
    keys: dict[str, Any] = {
        "aws:CurrentTime": _current_time(received),
        "aws:EpochTime": str(received), "aws:SecureTransport": "false",
        "aws:SourceIp": request.source_ip, "aws:RequestedRegion": region,
        "aws:ViaAWSService": "false", "aws:PrincipalIsAWSService": "false",
    }
    for header, key in (("user-agent", "aws:UserAgent"), ("referer", "aws:Referer")):
        value = request.header(header)
        if value is not None:
            keys[key] = value
    if caller is None:
        keys.update({"aws:PrincipalAccount": "anonymous", "aws:PrincipalType": "Anonymous", "aws:userid": "anonymous"})
    else:
        keys.update(caller.identity.context_keys())
    return keys


class DecisionMemo:
    """Decisions that depend only on who calls and the method ARN, made once.

    When no policy in play (the caller's, its boundary, the resource policy) reads the request's
    context (no Condition, no policy variable), the evaluation is a function of the caller and
    the ARN alone. One memo per gateway: a reload starts afresh. Bounded. A decision is
    remembered under the method ARN or, when its caller gives one, a key that names the ARN in
    this gateway (the authorize stage's (API id, stage, verb, path), which costs less to build).
    """

    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        # (id(identity), id(resource policy)) -> (identity, static) and (id(identity), ARN or key) ->
        # (identity, resource policy, evaluation): the objects kept and compared, so an id reused by
        # another object can never hit.
        self._static: dict[tuple, tuple] = {}
        self.evaluations: dict[tuple, tuple] = {}  # read by the authorize stage itself

    def get(self, identity: Identity | None, resource_policy: Policy | None, arn: Hashable) -> Evaluation | None:
        found = self.evaluations.get((id(identity), arn))
        return found[2] if found is not None and found[0] is identity and found[1] is resource_policy else None

    def is_static(self, identity: Identity | None, resource_policy: Policy | None) -> bool:
        key = (id(identity), id(resource_policy))
        found = self._static.get(key)
        if found is None or found[0] is not identity:
            policies = (identity.policies + ((identity.boundary,) if identity.boundary else ())) if identity else ()
            policies += (resource_policy,) if resource_policy else ()
            found = self._static[key] = (identity, not any(st.context_keys for p in policies for st in p.statements))
        return found[1]

    def put(self, identity: Identity | None, resource_policy: Policy | None, arn: Hashable,
            evaluation: Evaluation) -> None:
        if len(self.evaluations) >= self.MAX_ENTRIES:
            self.evaluations.clear()
        self.evaluations[(id(identity), arn)] = (identity, resource_policy, evaluation)


def authorize(*, method_arn: str, request: Request, region: str, account_id: str, caller: Caller | None,
              resource_policy: Policy | None, memo: DecisionMemo | None = None,
              memo_key: Hashable | None = None) -> Evaluation:
    """May this caller invoke the method ARN? Identity and resource policies combined (spec §1.3).

    ``memo_key``: what names the method ARN in the memo's gateway, if not the ARN itself.
    """
    identity = caller.identity if caller else None
    key = method_arn if memo_key is None else memo_key
    if memo is not None:
        remembered = memo.get(identity, resource_policy, key)
        if remembered is not None:
            return remembered
    static = memo is not None and memo.is_static(identity, resource_policy)
    authz = AuthzRequest(INVOKE, method_arn, identity.principal if identity else None,
                         {} if static else context_keys(request, region, caller))
    evaluation = iam_authorize(
        authz, identity=identity.policies if identity else (),
        resource=(resource_policy,) if resource_policy else (),
        boundary=(identity.boundary,) if identity and identity.boundary else None,
        same_account=identity is None or identity.account == account_id,
        identity_side_present=identity is not None)
    if static:
        memo.put(identity, resource_policy, key, evaluation)
    return evaluation


def resource_policy_only(*, method_arn: str, request: Request, region: str, resource_policy: Policy) -> Evaluation:
    """The resource policy alone, for a caller an authorizer (not IAM) identified (spec §1.3)."""
    authz = AuthzRequest(INVOKE, method_arn, None, context_keys(request, region, None))
    return evaluate_policies(authz, (resource_policy,))


def authorize_with_authorizer_policy(*, method_arn: str, request: Request, region: str, authorizer_policy: Policy,
                                     resource_policy: Policy) -> Evaluation:
    """A Lambda authorizer's policy (always same account) combined with the resource policy (Table A)."""
    authz = AuthzRequest(INVOKE, method_arn, None, context_keys(request, region, None))
    return iam_authorize(authz, identity=(authorizer_policy,), resource=(resource_policy,), same_account=True)


def denial(evaluation: Evaluation) -> AccessDenied:
    """AWS's ACCESS_DENIED for an IAM/resource-policy denial, capital ``Message`` (spec §2.3, §2.4)."""
    cause, sentence = denial_reason(evaluation)
    return AccessDenied(denial_message(evaluation), detail=sentence, cause=cause)


def denial_reason(evaluation: Evaluation) -> tuple[str, str]:
    """A cause code and a sentence naming the deciding (or the closest) statement."""
    request = evaluation.request
    caller = request.principal.arn if request.principal else "anonymous"
    if evaluation.decision is Decision.EXPLICIT_DENY:
        match = evaluation.matched[0]
        where = _where(match.source, match.pointer)
        kind = "resource_policy" if match.source.kind == "resource" else "identity_policy"
        return (f"explicit_deny_{kind}", f"Denied by an explicit Deny: statement {match.sid or match.index} of "
                f"{match.source.name} ({where}) applies to {caller} on {request.resource}"
                + _conditions_that_held(evaluation.statement(match), request))
    if request.principal is None:
        head = (f"the caller is anonymous (the method's authorization type is NONE) and no statement of the "
                f"resource policy allows anonymous callers {INVOKE} on {request.resource}")
        return "resource_policy_denies_anonymous", head + _closest(evaluation)
    head = f"no policy of {caller} allows {INVOKE} on {request.resource}"
    return "identity_policy_denies", head + _closest(evaluation)


def _where(source, pointer: str) -> str:
    return f"{source.file}#{pointer}" if source.file else (pointer or "/")


def _conditions_that_held(statement, request) -> str:
    """A deciding Deny's conditions with the request's values (e.g. the caller's aws:SourceIp)."""
    if statement is None or not statement.conditions:
        return ""
    held = [f"{c.operator} {c.key} [{', '.join(c.expected)}] holds for the request's {c.key} "
            f"{', '.join(request.values(c.key_lower) or ()) or '(absent)'}" for c in statement.conditions]
    return "; its condition " + "; ".join(held)


def _closest(evaluation: Evaluation) -> str:
    """The Allow statement that came nearest: its action matched, its resource or condition did not;
    else one that allows another execute-api action (e.g. the non-existent execute-api:Execute)."""
    for miss in evaluation.misses:
        if miss.effect == "Allow" and miss.element in ("Resource", "NotResource", "Condition", "Principal"):
            name = f"`{miss.sid}`" if miss.sid else f"statement {miss.index}"
            hint = _resource_hint(evaluation.statement(miss), evaluation.request.resource) \
                if miss.element == "Resource" else ""
            return f"; the closest statement {name} in {_where(miss.source, miss.pointer)}: {miss.reason}{hint}"
    for miss in evaluation.misses:
        statement = evaluation.statement(miss) if miss.effect == "Allow" and miss.element == "Action" else None
        patterns = [a for a in statement.actions.patterns if a.lower().startswith("execute-api:")] if statement else []
        if patterns:
            name = f"`{miss.sid}`" if miss.sid else f"statement {miss.index}"
            unknown = [a for a in patterns if "*" not in a and "?" not in a and a.lower() not in EXECUTE_API_ACTIONS]
            text = f"; the closest statement {name} in {_where(miss.source, miss.pointer)} allows {', '.join(patterns)}"
            if unknown:
                return text + (f", and {unknown[0]} is not an action API Gateway knows (execute-api has Invoke, "
                               f"InvalidateCache and ManageToConnections): use {INVOKE}")
            return text + f", which does not match {INVOKE}"
    return "; no statement allows this action at all"


def _resource_hint(statement, arn: str) -> str:
    """Which part of the closest Resource differs from the request's method ARN."""
    if statement is None:
        return ""
    for pattern in statement.resources.patterns:
        difference = _arn_difference(pattern, arn)
        if difference:
            return f" ({difference})"
    return ""


_ARN_PARTS = ("API id", "stage", "verb", "path")


def _arn_difference(pattern: str, arn: str) -> str | None:
    """``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH``: the first part the pattern gets wrong."""
    theirs, ours = pattern.split(":", 5), arn.split(":", 5)
    if len(theirs) < 6 or len(ours) < 6 or "${" in pattern:
        return None
    for index, part in ((3, "region"), (4, "account")):
        if not _glob(theirs[index], ours[index]):
            return f"its {part} is {theirs[index]}, the request's is {ours[index]}"
    their_parts, our_parts = theirs[5].split("/", 3), ours[5].split("/", 3)
    for index, part in enumerate(_ARN_PARTS[:len(our_parts)]):
        their, our = their_parts[index], our_parts[index]
        lead = "/" if part == "path" else ""
        if index == len(their_parts) - 1 and "*" in their:  # a last wildcard may span the rest
            rest = "/".join(our_parts[index:])
            if _glob(their, rest):
                return None
            return f"its {'/'.join(_ARN_PARTS[index:])} {lead}{their} does not cover {lead}{rest}"
        if part == "path" and our.startswith(their.rstrip("/") + "/"):
            return f"it names /{their} without a trailing /*, so it does not cover /{our}"
        if not _glob(their, our):
            return f"its {part} is {lead}{their}, the request's is {lead}{our}"
        if index == len(their_parts) - 1 and index < len(our_parts) - 1:
            return f"it ends at the {part} without a trailing /*, so it does not cover {'/'.join(our_parts)}"
    return None


def _glob(pattern: str, value: str) -> bool:
    """IAM's ARN wildcards: ``*`` and ``?``, case-sensitive, nothing else special."""
    return fnmatchcase(value, pattern.replace("[", "[[]"))


def is_allowed(evaluation: Evaluation) -> bool:
    return evaluation.decision is Decision.ALLOW


def identity_fields(caller: Caller | None) -> dict[str, Any]:
    """``requestContext.identity`` fields of a SigV4 caller (payload 1.0)."""
    if caller is None:
        return {}
    identity = caller.identity
    return {"accessKey": caller.access_key_id, "accountId": identity.account, "caller": identity.userid,
            "user": identity.userid, "userArn": identity.arn}


def iam_authorizer_fields(caller: Caller) -> dict[str, Any]:
    """``requestContext.authorizer.iam`` of an HTTP API payload 2.0 event."""
    identity = caller.identity
    return {"accessKey": caller.access_key_id, "accountId": identity.account, "callerId": identity.userid,
            "cognitoIdentity": None, "principalOrgId": None, "userArn": identity.arn, "userId": identity.userid}
