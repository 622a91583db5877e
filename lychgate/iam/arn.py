"""ARN parsing, IAM wildcard compilation and execute-api ARN helpers.

IAM wildcards (``*`` any run, ``?`` one character, everything else literal) are
compiled to regular expressions once, at policy load. ARN patterns follow the
segment rule of spec A2: the first five ``:``-separated fields are matched
independently (a wildcard there cannot swallow a ``:``) and the sixth, the
resource part, is one string in which ``*`` crosses both ``/`` and ``:``. This
module also builds the method ARN of an API Gateway request (spec A3 / gateway
§4), expands the resource-policy shorthand ``execute-api:/stage/GET/pets``
(gateway §1.3) and masks account ids for denial messages (gateway §2.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

ARN_FIELDS = 6
SHORTHAND_PREFIX = "execute-api:/"
_WILDCARDS = frozenset("*?")


@dataclass(frozen=True, slots=True)
class Arn:
    """The six fields of an ARN; ``resource`` keeps any further colons."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


@dataclass(frozen=True, slots=True)
class ApiScope:
    """The API a resource policy belongs to, used to expand ``execute-api:/…`` shorthand."""

    region: str
    account: str
    api_id: str
    partition: str = "aws"

    @property
    def arn_prefix(self) -> str:
        return f"arn:{self.partition}:execute-api:{self.region}:{self.account}:{self.api_id}/"


def parse_arn(text: str) -> Arn | None:
    """Split an ARN into its fields (spec A2); ``None`` if it is not ``arn:`` + 6 fields."""
    fields = text.split(":", ARN_FIELDS - 1)
    if len(fields) != ARN_FIELDS or fields[0] != "arn":
        return None
    return Arn(*fields[1:])


def has_wildcard(text: str) -> bool:
    """True if ``text`` contains an IAM wildcard character."""
    return not _WILDCARDS.isdisjoint(text)


def glob_source(pattern: str) -> str:
    """Regex source for an IAM glob: ``*`` any run (crossing ``/``), ``?`` one char (spec A2)."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "".join(out)


def compile_glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a whole-string IAM glob once (spec A2: metacharacters are literal)."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(glob_source(pattern), flags)


def arn_glob_source(pieces: Iterable[tuple[str, bool]]) -> str:
    """Regex source for an ARN pattern given as (text, wildcards-active) pieces (spec A2).

    Colons are counted across pieces; before the fifth colon ``*``/``?`` stay inside
    one field, after it they may cross ``:`` and ``/``. Literal pieces (substituted
    policy variables, ``${*}`` escapes) are escaped whole.
    """
    out: list[str] = []
    colons = 0
    for text, active in pieces:
        for ch in text:
            if ch == ":":
                colons += 1
            in_resource = colons >= ARN_FIELDS - 1
            if active and ch == "*":
                out.append(".*" if in_resource else "[^:]*")
            elif active and ch == "?":
                out.append("." if in_resource else "[^:]")
            else:
                out.append(re.escape(ch))
    return "".join(out)


def compile_arn_glob(pattern: str) -> re.Pattern[str]:
    """Compile a plain ARN pattern (no variables) with the segment rule of spec A2."""
    return re.compile(arn_glob_source([(pattern, True)]), re.DOTALL)


def arn_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not an acceptable ARN pattern, or ``None`` (spec A2).

    Requires ``arn:`` and six fields (short patterns are rejected, spec A2
    [unconfirmed] recommendation) and no wildcard in the service field.
    """
    fields = pattern.split(":", ARN_FIELDS - 1)
    if fields[0] != "arn" or len(fields) != ARN_FIELDS:
        return ("expected an ARN with six fields 'arn:partition:service:region:account:resource'"
                f" or \"*\", found {pattern!r}")
    if has_wildcard(fields[2]):
        return f"the service field of an ARN must not contain a wildcard, found {fields[2]!r}"
    return None


def execute_api_arn(region: str, account: str, api_id: str, stage: str, verb: str,
                    path: str, *, partition: str = "aws") -> str:
    """Method ARN of a REST/HTTP API call (spec A3, gateway §4).

    ``path`` is the concrete request path after the stage; its leading ``/`` is
    dropped, so the root resource yields an ARN ending in ``/{verb}/``.
    """
    resource_path = path[1:] if path.startswith("/") else path
    return (f"arn:{partition}:execute-api:{region}:{account}:"
            f"{api_id}/{stage}/{verb}/{resource_path}")


def is_shorthand(pattern: str) -> bool:
    """True for the resource-policy shorthand ``execute-api:/…`` (gateway §1.3)."""
    return pattern.startswith(SHORTHAND_PREFIX)


def expand_shorthand(pattern: str, scope: ApiScope) -> str:
    """Expand ``execute-api:/stage/GET/pets`` to the full ARN of ``scope`` (spec A3, gateway §1.3)."""
    if not is_shorthand(pattern):
        return pattern
    return scope.arn_prefix + pattern[len(SHORTHAND_PREFIX):]


def mask_account(arn: str) -> str:
    """Mask the account id of an ARN as ``********`` + its last 4 digits (gateway §2.3)."""
    parsed = parse_arn(arn)
    if parsed is None or not parsed.account:
        return arn
    masked = "********" + parsed.account[-4:]
    return str(Arn(parsed.partition, parsed.service, parsed.region, masked, parsed.resource))
