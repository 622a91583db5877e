"""Result types shared by the compiler and the evaluator.

:class:`Decision` uses the AWS CLI names (``allowed`` / ``explicitDeny`` /
``implicitDeny``, as ``simulate-principal-policy`` prints them).
:class:`StatementMatch` records a statement that applied and
:class:`StatementMiss` one that did not, with the element that failed and a
human reason; both carry the policy's :class:`PolicySource` and the statement's
JSON pointer inside its file so explanations can point at the exact text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .conditions import ConditionMiss


class Decision(enum.Enum):
    """Outcome of an evaluation (spec A6), valued with the AWS CLI spelling."""

    ALLOW = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True, slots=True)
class PolicySource:
    """Where a policy came from, for explanations."""

    name: str
    file: str | None = None
    pointer: str = ""
    kind: str = "identity"


@dataclass(frozen=True, slots=True)
class StatementMatch:
    """A statement that applied. ``principal`` is the Principal entry that matched the caller."""

    source: PolicySource
    index: int
    sid: str | None
    effect: str
    pointer: str
    principal: str | None = None


@dataclass(frozen=True, slots=True)
class StatementMiss:
    """A statement that did not apply, the element that failed and why."""

    source: PolicySource
    index: int
    sid: str | None
    effect: str
    pointer: str
    element: str
    reason: str
    condition: ConditionMiss | None = None
