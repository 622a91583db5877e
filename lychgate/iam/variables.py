"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``, ``${*}``.

A policy string is parsed once into a :class:`Template` of pieces: pattern text
(whose ``*``/``?`` are wildcards where the operator allows them), literal text
(``${*}``, ``${?}``, ``${$}`` escapes) and variables. Variables are substituted
only under Version ``2012-10-17``; under ``2008-10-17`` the text is taken as is
(spec A1 "Version differences", A5). At request time a variable takes the single
value of its context key (names case-insensitive), else its default; a key that
is absent (or multi-valued) with no default makes the template unresolvable,
which callers treat as "this value matches nothing" (Resource, conditions) or
"the statement does not apply" (NotResource) (spec A5). A substituted
value is always literal: its own ``*``/``?`` are not wildcards (spec A5
[unconfirmed], escaping as cloud-copilot/iam-simulate does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from .errors import PolicyError

if TYPE_CHECKING:
    from .request import AuthzRequest

_ESCAPES = frozenset("*?$")
_BODY = re.compile(r"\s*([A-Za-z0-9:/_.+=@-]+)\s*(?:,\s*'([^']*)'\s*)?")


@dataclass(frozen=True, slots=True)
class Text:
    """Policy text; wildcards in it are active where the operator supports them."""

    text: str


@dataclass(frozen=True, slots=True)
class Literal:
    """Text from a ``${*}``/``${?}``/``${$}`` escape: never a wildcard."""

    text: str


@dataclass(frozen=True, slots=True)
class Variable:
    """``${key}`` or ``${key, 'default'}``; ``lower`` is the case-folded key name."""

    key: str
    lower: str
    default: str | None


Piece = Union[Text, Literal, Variable]


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string split into pieces; ``variables`` lists the ``${…}`` references."""

    raw: str
    pieces: tuple[Piece, ...]
    variables: tuple[Variable, ...]

    @property
    def is_static(self) -> bool:
        return not self.variables

    def literal(self, request: "AuthzRequest | None" = None) -> str | None:
        """The string with variables substituted, or ``None`` if unresolvable (spec A5)."""
        out = []
        for piece in self.pieces:
            text = resolve(piece, request) if isinstance(piece, Variable) else piece.text
            if text is None:
                return None
            out.append(text)
        return "".join(out)

    def glob_pieces(self, request: "AuthzRequest | None" = None) -> list[tuple[str, bool]] | None:
        """(text, wildcards-active) pieces with variables substituted as literals (spec A5)."""
        out = []
        for piece in self.pieces:
            if isinstance(piece, Variable):
                value = resolve(piece, request)
                if value is None:
                    return None
                out.append((value, False))
            else:
                out.append((piece.text, isinstance(piece, Text)))
        return out

    def skeleton(self, marker: str = "\x00") -> str:
        """The raw text with each variable replaced by ``marker`` and escapes by ``_``."""
        return "".join(p.text if isinstance(p, Text) else "_" if isinstance(p, Literal)
                       else marker for p in self.pieces)


def resolve(variable: Variable, request: "AuthzRequest | None") -> str | None:
    """Value of one variable: the key's single value, else its default (spec A5)."""
    values = request.values(variable.lower) if request is not None else None
    if values is not None and len(values) == 1:
        return values[0]
    return variable.default


def literal_template(raw: str) -> Template:
    """A template without variables (Version 2008-10-17, or elements that take none)."""
    return Template(raw, (Text(raw),) if raw else (), ())


def parse_template(raw: str, pointer: str, *, substitute: bool) -> Template:
    """Parse ``${…}`` references (spec A5) if ``substitute`` (Version 2012-10-17)."""
    if not substitute or "${" not in raw:
        return literal_template(raw)
    pieces: list[Piece] = []
    pos = 0
    while (start := raw.find("${", pos)) >= 0:
        if start > pos:
            pieces.append(Text(raw[pos:start]))
        end = raw.find("}", start)
        if end < 0:
            raise PolicyError(pointer, f"unterminated policy variable in {raw!r}: expected '}}' after '${{'")
        pieces.append(_parse_reference(raw[start + 2:end], raw, pointer))
        pos = end + 1
    if pos < len(raw):
        pieces.append(Text(raw[pos:]))
    variables = tuple(p for p in pieces if isinstance(p, Variable))
    return Template(raw, tuple(pieces), variables)


def _parse_reference(body: str, raw: str, pointer: str) -> Piece:
    """One ``${body}``: an escape, or ``key`` with an optional ``'default'`` (spec A5)."""
    if body in _ESCAPES:
        return Literal(body)
    match = _BODY.fullmatch(body)
    if match is None:
        raise PolicyError(pointer, f"malformed policy variable '${{{body}}}' in {raw!r}: expected "
                                   "${key} or ${key, 'default value'}")
    key, default = match.group(1), match.group(2)
    return Variable(key, key.lower(), default)
