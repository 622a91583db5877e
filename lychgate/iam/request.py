"""The caller and the request as IAM sees them.

:class:`Principal` describes the authenticated caller (or ``None`` for an
anonymous one) with everything Principal/NotPrincipal matching needs (spec A1,
"How a principal entry matches the caller"). :class:`AuthzRequest` carries the
action, the method ARN and the request context; context keys are looked up
case-insensitively (spec A2) and any Python value is normalised to a tuple of
strings so that evaluation never raises on odd context values (booleans become
``"true"``/``"false"``, numbers their decimal text, datetimes ISO 8601 UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Mapping

from .arn import parse_arn

Values = tuple[str, ...]

_TYPE_BY_RESOURCE = {"user": "User", "assumed-role": "AssumedRole",
                     "federated-user": "FederatedUser", "root": "Account"}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller (spec A1 principal table, A7 ``aws:userid``).

    ``arn`` is the user ARN, the session ARN ``arn:aws:sts::A:assumed-role/R/S``,
    a federated-user ARN or the root ARN. ``role_arn`` (with its path) is set for
    role sessions so that a policy naming the role matches every session.
    ``userid`` is ``aws:userid`` (``AIDA…`` or ``AROA…:session``) and lets
    unique-id principal entries match. ``account`` is derived from ``arn`` when
    omitted.
    """

    arn: str | None
    account: str | None = None
    role_arn: str | None = None
    userid: str | None = None
    principal_type: str | None = None

    def __post_init__(self) -> None:
        parsed = parse_arn(self.arn) if self.arn else None
        if self.account is None and parsed is not None:
            object.__setattr__(self, "account", parsed.account)
        if self.principal_type is None and parsed is not None:
            kind = parsed.resource.split("/", 1)[0]
            object.__setattr__(self, "principal_type", _TYPE_BY_RESOURCE.get(kind))

    @property
    def unique_id(self) -> str | None:
        """The IAM unique id (``AIDA…``/``AROA…``): ``aws:userid`` up to its first ``:``."""
        return self.userid.split(":", 1)[0] if self.userid else None


def _scalar(value: Any) -> str | None:
    """One context value as text; ``None`` stays absent (spec A1 'compare on string form')."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a context value must never break evaluation
        return None


def normalize_values(value: Any) -> Values | None:
    """Normalise a context value to a tuple of strings; ``None`` means the key is absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = (_scalar(item) for item in value)
        return tuple(item for item in items if item is not None)
    text = _scalar(value)
    return None if text is None else (text,)


@dataclass(frozen=True, init=False)
class AuthzRequest:
    """One authorization question: may ``principal`` perform ``action`` on ``resource``?

    ``action_key`` is the action lower-cased once (actions compare
    case-insensitively, spec A2) and ``service_key`` its service prefix. The
    constructor writes the instance dict directly: a request is built on every
    gateway call and a frozen dataclass's generated ``__init__`` costs more.
    """

    action: str
    resource: str
    principal: Principal | None
    context: Mapping[str, Any]
    action_key: str = field(repr=False, compare=False)
    service_key: str = field(repr=False, compare=False)

    def __init__(self, action: str, resource: str, principal: Principal | None = None,
                 context: Mapping[str, Any] | None = None) -> None:
        self.__dict__.update(action=action, resource=resource, principal=principal,
                             context={} if context is None else context, action_key=(key := action.lower()),
                             service_key=key.partition(":")[0])

    def _lowered(self) -> dict[str, Any]:
        """The context with lower-cased key names, built on first use (spec A2)."""
        try:
            lowered = {str(k).lower(): v for k, v in self.context.items()}
        except Exception:  # noqa: BLE001 - a broken mapping behaves like an empty one
            lowered = {}
        self.__dict__["_lowered_context"] = lowered
        return lowered

    def values(self, key_lower: str) -> Values | None:
        """Values of a context key (lower-cased name, spec A2); ``None`` when absent."""
        fields = self.__dict__
        cache = fields.get("_values_cache")
        if cache is None:
            cache = fields["_values_cache"] = {}
        elif key_lower in cache:
            return cache[key_lower]
        lowered = fields.get("_lowered_context")
        if lowered is None:
            lowered = self._lowered()
        found = cache[key_lower] = normalize_values(lowered.get(key_lower))
        return found
