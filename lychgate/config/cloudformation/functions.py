"""Lambda functions of a template -> ``functions`` handlers, their environment, and invoke permissions.

A Python function's ``Handler`` (``module.func``) inside its local code folder (SAM ``CodeUri``,
a local ``Code`` path, or the CDK asset folder named by ``Metadata.aws:asset:path``) becomes
``<folder>/<module path>.py:<func>``, keyed by the function's name (``FunctionName`` or the logical
id) so the ARNs the templates build resolve to it. Timeout and memory carry over with Lambda's
defaults (3 s, 128 MB). Other runtimes, container images, inline and S3-only code are warnings.
``AWS::Lambda::Permission`` resources say which functions API Gateway may invoke.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from lychgate.config.cloudformation.sam import local_code
from lychgate.config.cloudformation.stack import Stack
from lychgate.config.references import lambda_function
from lychgate.config.source import pointer

CONSUMED = {"AWS::Lambda::Function", "AWS::Lambda::Permission", "AWS::Lambda::Version", "AWS::Lambda::Alias"}
LAMBDA_DEFAULT_TIMEOUT_S = 3
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:[^}]+\}\}")
APIGATEWAY_PRINCIPALS = ("apigateway.amazonaws.com", "apigateway.amazonaws.com.cn")


@dataclass
class Functions:
    config: dict[str, dict] = field(default_factory=dict)  # lychgate.yaml `functions`
    environment: dict[str, dict[str, str]] = field(default_factory=dict)
    logical_ids: dict[str, str] = field(default_factory=dict)  # function name -> logical id
    permissions: dict[str, list[str]] = field(default_factory=dict)  # function name -> SourceArn patterns


def read_functions(stack: Stack, env_overrides: dict[str, dict[str, str]]) -> Functions:
    out = Functions()
    for lid, _ in stack.active("AWS::Lambda::Function"):
        name = stack.named(lid)
        handler = _handler(stack, lid)
        if handler is None:
            continue
        out.logical_ids[name] = lid
        out.config[name] = {"handler": handler, "timeout": _number(stack, lid, "Timeout", LAMBDA_DEFAULT_TIMEOUT_S),
                            "memory": _number(stack, lid, "MemorySize", 128)}
        out.environment[name] = _environment(stack, lid, name, env_overrides)
    _unused_overrides(stack, env_overrides, out)
    out.permissions = _permissions(stack)
    return out


def _handler(stack: Stack, lid: str) -> str | None:
    """``<code folder>/<module>.py:<func>``, or None with a warning saying why it is not served."""
    ptr = pointer("Resources", lid, "Properties")
    runtime = str(stack.prop(lid, "Runtime", ""))
    if stack.prop(lid, "PackageType") == "Image":
        stack.problems.warning(ptr + "/PackageType", f"function {lid} is a container image: not served "
                                                     "(lychgate runs Python handlers from local folders)")
        return None
    if not runtime.startswith("python"):
        stack.problems.warning(ptr + "/Runtime", f"function {lid} uses runtime {runtime or 'none'!r}: not served "
                                                 "(lychgate runs Python handlers only); APIs that integrate it fail to load")
        return None
    folder = _code_folder(stack, lid)
    handler = stack.prop(lid, "Handler")
    if folder is None:
        return None
    if not isinstance(handler, str) or not re.fullmatch(r"[\w/.-]*\w\.[A-Za-z_]\w*", handler):
        stack.problems.expected(ptr + "/Handler", "a Python handler 'module.function'", handler)
        return None
    module, _, func = handler.rpartition(".")
    path = posixpath.normpath(posixpath.join(folder, module.replace(".", "/") + ".py"))
    if not (stack.base_dir / path).is_file():
        stack.problems.warning(ptr + "/Handler", f"handler file {path} of function {lid} not found "
                                                 f"(relative to {stack.base_dir})")
    return f"{path}:{func}"


def _code_folder(stack: Stack, lid: str) -> str | None:
    """The function's local code folder (relative to the template), else None with a warning."""
    ptr = pointer("Resources", lid, "Properties", "Code")
    code = stack.prop(lid, "Code")
    metadata = stack.resources[lid].get("Metadata") or {}
    local = local_code(code)
    if local is not None:
        return local
    if isinstance(metadata.get("aws:asset:path"), str) and metadata.get("aws:asset:property") == "Code":
        return metadata["aws:asset:path"]  # a CDK asset, relative to cdk.out
    if isinstance(code, str):
        return code[len("file://"):] if code.startswith("file://") else code
    if isinstance(code, dict) and "ZipFile" in code:
        stack.problems.warning(ptr + "/ZipFile", f"function {lid} has inline code (ZipFile / InlineCode): not "
                                                 "served; put it in a file and name its folder with CodeUri")
        return None
    where = f"s3://{code.get('S3Bucket')}/{code.get('S3Key')}" if isinstance(code, dict) else "nowhere local"
    stack.problems.warning(ptr, f"function {lid}'s code is {where}: not served (name a local folder with "
                                "CodeUri, or serve the un-packaged template)")
    return None


def _number(stack: Stack, lid: str, key: str, default: int) -> Any:
    value = stack.prop(lid, key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        stack.problems.expected(pointer("Resources", lid, "Properties", key), "a number", value)
        return default


def _environment(stack: Stack, lid: str, name: str, overrides: dict[str, dict[str, str]]) -> dict[str, str]:
    """Environment.Variables as strings; --env-vars values replace declared ones, as ``sam local`` does."""
    variables = (stack.prop(lid, "Environment") or {}).get("Variables") or {}
    env = {k: _text(v) for k, v in variables.items()} if isinstance(variables, dict) else {}
    for key, value in env.items():
        if DYNAMIC_REFERENCE.search(value):
            stack.problems.warning(pointer("Resources", lid, "Properties", "Environment", "Variables", key),
                                   f"dynamic reference {value!r} cannot be resolved locally: the text is used "
                                   "as is (override it with --env-vars)")
    for scope in ("Parameters", lid, name):
        env.update({k: v for k, v in overrides.get(scope, {}).items() if k in env})
    return env


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _unused_overrides(stack: Stack, overrides: dict[str, dict[str, str]], out: Functions) -> None:
    """--env-vars entries sam would silently drop: undeclared variables, unknown functions."""
    declared = {scope: set(out.environment[name]) for name, scope in out.logical_ids.items()}
    declared |= {name: set(env) for name, env in out.environment.items()}
    every = set().union(*declared.values()) if declared else set()
    for scope, variables in overrides.items():
        known = every if scope == "Parameters" else declared.get(scope)
        if known is None:
            stack.problems.warning("", f"--env-vars names {scope!r}, which is no served function: ignored")
            continue
        for var in sorted(set(variables) - known):
            stack.problems.warning("", f"--env-vars sets {var} for {scope}, but the template declares no such "
                                       "environment variable: ignored, as sam local does")


def _permissions(stack: Stack) -> dict[str, list[str]]:
    """Function name -> SourceArn patterns of the permissions letting API Gateway invoke it ("*": any)."""
    out: dict[str, list[str]] = {}
    for lid, _ in stack.active("AWS::Lambda::Permission"):
        principal, action = stack.prop(lid, "Principal"), stack.prop(lid, "Action")
        if principal not in APIGATEWAY_PRINCIPALS or action not in ("lambda:InvokeFunction", "lambda:*"):
            continue
        named = lambda_function(_strip_account(str(stack.prop(lid, "FunctionName", ""))))
        if named:
            out.setdefault(named[0], []).append(str(stack.prop(lid, "SourceArn", "*")))
    return out


def _strip_account(name: str) -> str:
    """Lambda's partial ARN ``123456789012:function:name`` -> ``name``."""
    match = re.fullmatch(r"\d{12}:function:(.+)", name)
    return match.group(1) if match else name
