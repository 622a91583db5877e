"""What a definition refers to: stage variables in URIs, and Lambda functions behind integrations.

Integration URIs name Lambda functions the way AWS does (an ``arn:aws:apigateway:…:lambda:path/
2015-03-31/functions/<function-arn>/invocations`` URI, or, for HTTP APIs, the function ARN
itself), possibly through ``${stageVariables.x}``. ``check_references`` resolves every one for
every stage at load time, so a typo is a config error rather than a 500 at request time.
"""

from __future__ import annotations

import re
from typing import Mapping
from urllib.parse import urlsplit

from lychgate.config.model import Api, Project
from lychgate.errors import Problem

STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
INVOCATION_URI = re.compile(r"^arn:aws[a-z-]*:apigateway:[^:]*:lambda:path/[^/]+/functions/(?P<fn>.+?)/invocations$")
FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:(?P<region>[^:]*):(?P<account>\d*):function:(?P<name>[^:/]+)(?::(?P<qualifier>[^:/]+))?$")


class MissingStageVariable(KeyError):
    """A ``${stageVariables.x}`` whose stage does not define x."""


def expand_stage_variables(text: str, variables: Mapping[str, str]) -> str:
    """Substitute ``${stageVariables.name}``; a name the stage lacks raises MissingStageVariable."""
    if "${" not in text:
        return text

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            raise MissingStageVariable(name)
        return variables[name]

    return STAGE_VARIABLE.sub(value, text)


def lambda_function(uri: str) -> tuple[str, str | None] | None:
    """``(function name, qualifier)`` named by an integration URI, or None if it names none.

    Accepts the invocation URI, a function ARN, or a bare function name (``name`` or ``name:alias``).
    """
    match = INVOCATION_URI.match(uri)
    target = match.group("fn") if match else uri
    arn = FUNCTION_ARN.match(target)
    if arn:
        return arn.group("name"), arn.group("qualifier")
    if re.fullmatch(r"[A-Za-z0-9_-]+(?::[A-Za-z0-9_$-]+)?", target):
        name, _, qualifier = target.partition(":")
        return name, qualifier or None
    return None


def check_references(project: Project) -> list[Problem]:
    """Every integration URI of every API resolves, for every stage."""
    problems: list[Problem] = []
    for api in project.apis:
        for stage in api.stages.values():
            problems += _check_stage(api, stage.name, stage.variables, project)
    return _dedupe(problems)


def _check_stage(api: Api, stage: str, variables: Mapping[str, str], project: Project) -> list[Problem]:
    problems = []
    for method in api.methods:
        integ = method.integration
        if integ is None or integ.type == "MOCK":
            continue
        where = integ.source
        try:
            uri = expand_stage_variables(integ.uri, variables)
        except MissingStageVariable as exc:
            problems.append(Problem(where.file, where.pointer + "/uri",
                                    f"stage {stage!r} of API {api.id!r} has no stage variable {exc.args[0]!r} "
                                    f"used by this URI: requests on that stage answer 500", "warning"))
            continue
        problems += _check_uri(integ.type, uri, where, project)
    return problems


def _check_uri(kind: str, uri: str, where, project: Project) -> list[Problem]:
    if kind in ("HTTP", "HTTP_PROXY"):
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return [Problem(where.file, where.pointer + "/uri", f"expected an http:// or https:// URL, found {uri!r}")]
        return []
    named = lambda_function(uri)
    if named is None:
        return [Problem(where.file, where.pointer + "/uri",
                        f"expected a Lambda invocation URI or function ARN, found {uri!r}")]
    if named[0] not in project.functions:
        known = ", ".join(sorted(project.functions)) or "none declared"
        return [Problem(where.file, where.pointer + "/uri",
                        f"Lambda function {named[0]!r} is not mapped to a handler under 'functions' in "
                        f"{project.file.name} (mapped: {known})")]
    return []


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
