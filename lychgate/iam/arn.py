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
    """Regex source for an IAM glob: ``*`` any run (crossing ``/``), ``?`` one char (spec A2).

    A run of ``*`` is one ``.*``: the same language, while ``.*.*.*…`` backtracks exponentially.
    """
    out = []
    for ch in pattern:
        token = ".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
        if token != ".*" or not out or out[-1] != token:
            out.append(token)
    return "".join(out)


def compile_glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a whole-string IAM glob once (spec A2: metacharacters are literal)."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(glob_source(pattern), flags)


def arn_glob_source(pieces: Iterable[tuple[str, bool]]) -> str:
    """Regex source for an ARN pattern given as (text, wildcards-active) pieces (spec A2).

    Colons are counted across pieces; before the fifth colon ``*``/``?`` stay inside
    one field, after it they may cross ``:`` and ``/``. Literal pieces (substituted
    policy variables, ``${*}`` escapes) are escaped whole. A run of ``*`` becomes one
    token (repeated ``[^:]*`` backtracks exponentially on a mismatch).
    """
    out: list[str] = []
    colons = 0
    for text, active in pieces:
        for ch in text:
            if ch == ":":
                colons += 1
            in_resource = colons >= ARN_FIELDS - 1
            if active and ch == "*":
                token = ".*" if in_resource else "[^:]*"
                if not out or out[-1] != token:
                    out.append(token)
            elif active and ch == "?":
                out.append("." if in_resource else "[^:]")
            else:
                out.append(re.escape(ch))
    return "".join(out)


def plain_glob_source(pieces: Iterable[tuple[str, bool]]) -> str:
    """Regex source for a string glob given as (text, wildcards-active) pieces (StringLike, actions)."""
    return "".join(glob_source(text) if active else re.escape(text) for text, active in pieces)


# ---------------------------------------------------------------- matching without backtracking blow-up
#
# A regex with two ``.*`` in one stretch (``*/*/*/edit``, ``*a*b*``) backtracks polynomially when it
# fails on a long string, and the method ARN carries the request path: 1000 path segments took
# seconds per request. Such patterns are matched by ``wildcard_match`` instead, in at most
# O(len(pattern) * len(text)) steps; patterns with at most one ``*`` per ARN field (or one in a
# plain glob) stay in a compiled regex, which is faster.

_STAR, _ONE = "\0*", "\0?"  # wildcard tokens: two characters, so never equal to one character of text


def _tokens(pieces: Iterable[tuple[str, bool]]) -> list[str]:
    return [(_STAR if ch == "*" else _ONE) if active and ch in _WILDCARDS else ch
            for text, active in pieces for ch in text]


def wildcard_match(tokens: list[str], text: str) -> bool:
    """Whole-string match of literal, ``*`` and ``?`` tokens (greedy, backtracking only to the last ``*``)."""
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        if p < len(tokens) and (tokens[p] == text[t] or tokens[p] == _ONE):
            p, t = p + 1, t + 1
        elif p < len(tokens) and tokens[p] == _STAR:
            star, resume, p = p, t, p + 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    return all(token == _STAR for token in tokens[p:])


def arn_wildcard_match(tokens: list[str], text: str) -> bool:
    """``wildcard_match`` with the segment rule of spec A2: each of the first five fields on its own
    (a wildcard there cannot cross ``:``), the resource part as one string."""
    fields: list[list[str]] = [[]]
    for token in tokens:
        if token == ":" and len(fields) < ARN_FIELDS:
            fields.append([])
        else:
            fields[-1].append(token)
    values = text.split(":", len(fields) - 1)
    if len(values) != len(fields) or len(fields) < ARN_FIELDS and ":" in values[-1]:
        return False
    return all(wildcard_match(field, value) for field, value in zip(fields, values))


def _backtracks(pieces: list[tuple[str, bool]], arn: bool) -> bool:
    """Whether some field (ARN) or the whole glob (plain) holds two ``*`` or more."""
    stars, region = {}, 0
    for text, active in pieces:
        for ch in text:
            if arn and ch == ":":
                region = min(region + 1, ARN_FIELDS - 1)
            elif active and ch == "*":
                stars[region] = stars.get(region, 0) + 1
    return any(count > 1 for count in stars.values())


@dataclass(frozen=True, slots=True)
class GlobSet:
    """Wildcard patterns (spec A2), matched whole: a compiled regex and the patterns it would
    backtrack on, matched by ``wildcard_match``. ``arn`` selects the ARN segment rule."""

    regex: re.Pattern[str] | None
    linear: tuple[list[str], ...]
    arn: bool

    def matches(self, text: str) -> bool:
        if self.regex is not None and self.regex.fullmatch(text) is not None:
            return True
        match = arn_wildcard_match if self.arn else wildcard_match
        return any(match(tokens, text) for tokens in self.linear)


def compile_globs(patterns: Iterable[list[tuple[str, bool]]], *, arn: bool) -> GlobSet | None:
    """One matcher for patterns given as (text, wildcards-active) pieces; ``None`` if there are none."""
    patterns = list(patterns)
    if not patterns:
        return None
    source = arn_glob_source if arn else plain_glob_source
    fast = [source(pieces) for pieces in patterns if not _backtracks(pieces, arn)]
    regex = re.compile("|".join(f"(?:{s})" for s in fast), re.DOTALL) if fast else None
    return GlobSet(regex, tuple(_tokens(pieces) for pieces in patterns if _backtracks(pieces, arn)), arn)


def glob_matches(pieces: list[tuple[str, bool]], text: str, *, arn: bool) -> bool:
    """One pattern (e.g. with its policy variables just substituted) against ``text``."""
    if _backtracks(pieces, arn):
        return (arn_wildcard_match if arn else wildcard_match)(_tokens(pieces), text)
    source = arn_glob_source(pieces) if arn else plain_glob_source(pieces)
    return re.fullmatch(source, text, re.DOTALL) is not None


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
