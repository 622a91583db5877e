"""Errors raised while compiling IAM policy documents, and JSON-pointer helpers.

Every defect in a policy is reported as a :class:`PolicyError` carrying a JSON
pointer (RFC 6901) relative to the policy document, so that a loader can prefix
it with the document's own location in its file and show the user exactly which
element is wrong, plus a message that says what was expected and what was found.
"""

from __future__ import annotations

import json


class PolicyError(ValueError):
    """A policy document is malformed; raised at compile time, never at request time."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message


def escape_token(token: object) -> str:
    """Escape one reference token per RFC 6901 (``~`` → ``~0``, ``/`` → ``~1``)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(base: str, *tokens: object) -> str:
    """Append reference tokens to a JSON pointer."""
    return base + "".join("/" + escape_token(t) for t in tokens)


def describe(value: object) -> str:
    """Short human description of a JSON value for 'expected X, found Y' messages."""
    kind = {dict: "an object", list: "a list", str: "the string", bool: "the boolean",
            type(None): "null"}.get(type(value))
    if kind is None:
        kind = "the number" if isinstance(value, (int, float)) else type(value).__name__
    if isinstance(value, (dict, list)):
        return kind
    try:
        text = json.dumps(value) if isinstance(value, (str, bool, int, float, type(None))) else repr(value)
    except ValueError:  # an int with more digits than Python prints (sys.get_int_max_str_digits)
        text = "too long to show"
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{kind} {text}" if kind != "null" else "null"
