"""CloudFormation intrinsic functions, evaluated locally the way a stack deployment would.

``Ref`` (parameters, pseudo parameters, resources), ``Fn::GetAtt``, ``Fn::Sub`` (both forms),
``Fn::Join``, ``Fn::If`` with the template's ``Conditions`` (``Fn::Equals``/``Not``/``And``/``Or``),
``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``, ``Fn::GetAZs``, ``Fn::Base64``,
``Fn::ToJsonString``, ``Fn::Length`` and ``AWS::NoValue``. What cannot be known without AWS
(``Fn::ImportValue``, a parameter with no value, an attribute of a resource type we do not model)
raises ``Unresolvable`` with the JSON pointer of the intrinsic; ``resolve`` turns that into an
error naming the resource and property, and goes on with the rest of the value.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Protocol

from lychgate.config.source import Problems, pointer

SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
FUNCTIONS = ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Fn::Split",
             "Fn::FindInMap", "Fn::GetAZs", "Fn::Base64", "Fn::ImportValue", "Fn::Cidr", "Fn::Transform",
             "Fn::ToJsonString", "Fn::Length", "Fn::GetStackOutput")


class Unresolvable(Exception):
    """An intrinsic whose value cannot be known locally."""

    def __init__(self, ptr: str, reason: str):
        super().__init__(reason)
        self.pointer, self.reason = ptr, reason


class Scope(Protocol):
    """What intrinsics refer to: the stack's parameters, resources, mappings and conditions."""

    region: str

    def ref(self, name: str, ptr: str) -> Any: ...

    def get_att(self, name: str, attribute: str, ptr: str) -> Any: ...

    def condition(self, name: str, ptr: str) -> bool: ...

    def mappings(self) -> dict: ...


def is_intrinsic(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)) in FUNCTIONS


def where(ptr: str) -> str:
    """``/Resources/Fn/Properties/Environment/Variables/X`` -> ``resource Fn, property Environment/Variables/X``."""
    parts = ptr.split("/")[1:]
    if len(parts) >= 4 and parts[0] == "Resources" and parts[2] == "Properties":
        prop = "/".join(p.replace("~1", "/").replace("~0", "~") for p in parts[3:])
        return f"resource {parts[1]}, property {prop}"
    return ptr or "the template"


class Resolver:
    """Evaluates intrinsics against a Scope; ``resolve`` records problems, ``value`` raises."""

    def __init__(self, scope: Scope, problems: Problems):
        self.scope, self.problems = scope, problems

    def resolve(self, node: Any, ptr: str) -> Any:
        """The value with every intrinsic evaluated; each unresolvable one is an error and becomes None."""
        if is_intrinsic(node):
            try:
                return self.value(node, ptr)
            except Unresolvable as exc:
                self._report(exc, ptr)
                return None
        if isinstance(node, dict):
            items = ((k, self.resolve(v, ptr + pointer(k))) for k, v in node.items())
            return {k: v for k, v in items if v is not NO_VALUE}
        if isinstance(node, list):
            items = (self.resolve(v, f"{ptr}/{i}") for i, v in enumerate(node))
            return [v for v in items if v is not NO_VALUE]
        return node

    def _report(self, exc: Unresolvable, ptr: str) -> None:
        """The error sits on the property; a cause elsewhere (a condition, a mapping) is named too."""
        elsewhere = "" if exc.pointer.startswith(ptr) else f" (at {exc.pointer})"
        self.problems.error(ptr, f"cannot resolve {where(ptr)}: {exc.reason}{elsewhere}")

    def value(self, node: Any, ptr: str) -> Any:
        """The value with every intrinsic evaluated; raises Unresolvable."""
        if is_intrinsic(node):
            name, args = next(iter(node.items()))
            return getattr(self, "_" + name.replace("Fn::", "fn_"))(args, ptr + pointer(name))
        if isinstance(node, dict):
            items = ((k, self.value(v, ptr + pointer(k))) for k, v in node.items())
            return {k: v for k, v in items if v is not NO_VALUE}
        if isinstance(node, list):
            items = (self.value(v, f"{ptr}/{i}") for i, v in enumerate(node))
            return [v for v in items if v is not NO_VALUE]
        return node

    def text(self, node: Any, ptr: str) -> str:
        value = self.value(node, ptr)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise Unresolvable(ptr, f"expected a string, found {json.dumps(value, default=str)[:60]}")

    def _Ref(self, args: Any, ptr: str) -> Any:
        if not isinstance(args, str):
            raise Unresolvable(ptr, "Ref takes the name of a parameter or resource")
        return NO_VALUE if args == "AWS::NoValue" else self.scope.ref(args, ptr)

    def _fn_GetAtt(self, args: Any, ptr: str) -> Any:
        if isinstance(args, str):
            args = args.split(".", 1)
        if not (isinstance(args, list) and len(args) == 2):
            raise Unresolvable(ptr, "Fn::GetAtt takes [LogicalId, Attribute]")
        return self.scope.get_att(self.text(args[0], ptr + "/0"), self.text(args[1], ptr + "/1"), ptr)

    def _fn_Sub(self, args: Any, ptr: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(args, list) and len(args) == 2 and isinstance(args[1], dict):
            variables = {k: self.text(v, f"{ptr}/1{pointer(k)}") for k, v in args[1].items()}
            args = args[0]
        if not isinstance(args, str):
            raise Unresolvable(ptr, "Fn::Sub takes a string or [string, {variables}]")

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return variables[name]
            if "." in name and not name.startswith("AWS::"):
                return self.text({"Fn::GetAtt": name.split(".", 1)}, ptr)
            return self.text({"Ref": name}, ptr)

        return SUB_VARIABLE.sub(substitute, args)

    def _fn_Join(self, args: Any, ptr: str) -> str:
        if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)):
            raise Unresolvable(ptr, "Fn::Join takes [delimiter, [values]]")
        values = self.value(args[1], ptr + "/1")
        if not isinstance(values, list):
            raise Unresolvable(ptr + "/1", "Fn::Join needs a list of values")
        return args[0].join(self.text(v, f"{ptr}/1/{i}") for i, v in enumerate(values))

    def _fn_If(self, args: Any, ptr: str) -> Any:
        if not (isinstance(args, list) and len(args) == 3 and isinstance(args[0], str)):
            raise Unresolvable(ptr, "Fn::If takes [ConditionName, value if true, value if false]")
        chosen = 1 if self.scope.condition(args[0], ptr + "/0") else 2
        return self.value(args[chosen], f"{ptr}/{chosen}")

    def _fn_Select(self, args: Any, ptr: str) -> Any:
        if not (isinstance(args, list) and len(args) == 2):
            raise Unresolvable(ptr, "Fn::Select takes [index, [values]]")
        index, values = self.value(args[0], ptr + "/0"), self.value(args[1], ptr + "/1")
        try:
            return values[int(index)]
        except (ValueError, TypeError, IndexError, KeyError):
            raise Unresolvable(ptr, f"index {index!r} is not in the list {values!r}") from None

    def _fn_Split(self, args: Any, ptr: str) -> list[str]:
        if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)):
            raise Unresolvable(ptr, "Fn::Split takes [delimiter, string]")
        return self.text(args[1], ptr + "/1").split(args[0])

    def _fn_FindInMap(self, args: Any, ptr: str) -> Any:
        if not (isinstance(args, list) and len(args) in (3, 4)):
            raise Unresolvable(ptr, "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]")
        keys = [self.text(a, f"{ptr}/{i}") for i, a in enumerate(args[:3])]
        found = self.scope.mappings().get(keys[0], {}).get(keys[1], {})
        if isinstance(found, dict) and keys[2] in found:
            return self.value(found[keys[2]], pointer("Mappings", *keys))
        if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
            return self.value(args[3]["DefaultValue"], ptr + "/3/DefaultValue")
        raise Unresolvable(ptr, f"Mappings has no {'/'.join(keys)}")

    def _fn_GetAZs(self, args: Any, ptr: str) -> list[str]:
        region = self.text(args, ptr) if args else self.scope.region
        return [f"{region or self.scope.region}{zone}" for zone in "abc"]

    def _fn_Base64(self, args: Any, ptr: str) -> str:
        return base64.b64encode(self.text(args, ptr).encode()).decode()

    def _fn_ToJsonString(self, args: Any, ptr: str) -> str:
        return json.dumps(self.value(args, ptr), separators=(",", ":"))

    def _fn_Length(self, args: Any, ptr: str) -> int:
        value = self.value(args, ptr)
        if not isinstance(value, list):
            raise Unresolvable(ptr, "Fn::Length takes a list")
        return len(value)

    def _fn_ImportValue(self, args: Any, ptr: str) -> Any:
        raise Unresolvable(ptr, "Fn::ImportValue reads another stack's exports, which exist only in AWS")

    def _fn_GetStackOutput(self, args: Any, ptr: str) -> Any:
        raise Unresolvable(ptr, "Fn::GetStackOutput reads another stack's outputs, which exist only in AWS")

    def _fn_Cidr(self, args: Any, ptr: str) -> Any:
        raise Unresolvable(ptr, "Fn::Cidr is not evaluated locally")

    def _fn_Transform(self, args: Any, ptr: str) -> Any:
        raise Unresolvable(ptr, "Fn::Transform runs a CloudFormation macro, which exists only in AWS "
                                "(write the included document inline, or name a local file)")

    def condition_value(self, node: Any, ptr: str) -> bool:
        """A condition expression: Fn::Equals / Not / And / Or, {"Condition": name}, or a boolean."""
        if isinstance(node, bool):
            return node
        if isinstance(node, dict) and len(node) == 1:
            name, args = next(iter(node.items()))
            if name == "Condition" and isinstance(args, str):
                return self.scope.condition(args, ptr + "/Condition")
            if name == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
                a, b = (self.value(v, f"{ptr}/Fn::Equals/{i}") for i, v in enumerate(args))
                return _comparable(a) == _comparable(b)
            if name in ("Fn::Not", "Fn::And", "Fn::Or") and isinstance(args, list) and args:
                values = [self.condition_value(v, f"{ptr}{pointer(name)}/{i}") for i, v in enumerate(args)]
                return {"Fn::Not": lambda: not values[0], "Fn::And": lambda: all(values),
                        "Fn::Or": lambda: any(values)}[name]()
            if name == "Fn::If":
                return self.condition_value(self._fn_If(args, ptr + "/Fn::If"), ptr)
        raise Unresolvable(ptr, "expected a condition: Fn::Equals, Fn::Not, Fn::And, Fn::Or or {Condition: Name}")


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value
