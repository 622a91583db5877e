"""``lychgate iam simulate-custom-policy`` / ``simulate-principal-policy``: the AWS CLI commands, offline.

Arguments are spelled and read as the AWS CLI reads them (lists are space-separated values after
the option; ``file://path`` reads a file), so commands from troubleshooting guides work unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lychgate.cli.output import ExitStatus, error
from lychgate.iam import Policy, PolicyError, Principal
from lychgate.iam.simulate import PolicyInput, compile_input, parse_context_entries, simulate


def _text(value: str) -> str:
    """An AWS CLI parameter value: ``file://path`` is read from the file."""
    if value.startswith("file://"):
        return Path(value[len("file://"):]).read_text(encoding="utf-8")
    return value


def _parser(prog: str, principal: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"lychgate iam {prog}")
    if principal:
        parser.add_argument("--policy-source-arn", required=True)
        parser.add_argument("--project", default=".", help="the lychgate project whose identities to use")
        parser.add_argument("--policy-input-list", nargs="+", default=[])
    else:
        parser.add_argument("--policy-input-list", nargs="+", required=True)
        parser.add_argument("--permissions-boundary-policy-input-list", nargs="+", default=[])
    parser.add_argument("--action-names", nargs="+", required=True)
    parser.add_argument("--resource-arns", nargs="+", default=["*"])
    parser.add_argument("--resource-policy")
    parser.add_argument("--resource-owner")
    parser.add_argument("--caller-arn")
    parser.add_argument("--context-entries", nargs="+", default=[])
    return parser


def _inputs(values: list[str], prefix: str, kind: str = "identity") -> list[PolicyInput]:
    return [PolicyInput(f"{prefix}.{i}", _text(v), kind) for i, v in enumerate(values, 1)]


def _compile(inputs: list[PolicyInput]) -> list[Policy]:
    compiled = []
    for item in inputs:
        try:
            compiled.append(compile_input(item))
        except PolicyError as exc:
            error(f"{item.policy_id}: {exc}", "fix the policy document; the pointer is relative to it")
            sys.exit(ExitStatus.CONFIG)
    return compiled


def _common(args, identity: list[Policy], boundary, principal, inputs: list[PolicyInput], account: str | None) -> dict:
    resource_input = PolicyInput("ResourcePolicy", _text(args.resource_policy), "resource", "Resource Policy") \
        if args.resource_policy else None
    resource = _compile([resource_input])[0] if resource_input else None
    try:
        context = parse_context_entries(args.context_entries)
    except (ValueError, json.JSONDecodeError) as exc:
        error(f"--context-entries: {exc}")
        sys.exit(ExitStatus.CONFIG)
    owner = (args.resource_owner or "").split(":")[4] if args.resource_owner and args.resource_owner.count(":") >= 4 else None
    same = owner is None or account is None or owner == account
    return simulate(identity=identity, actions=args.action_names, resources=args.resource_arns,
                    resource_policy=resource, boundary=boundary, principal=principal, context=context,
                    same_account=same, inputs=[*inputs, *([resource_input] if resource_input else [])])


def simulate_custom_policy(argv: list[str]) -> dict:
    args = _parser("simulate-custom-policy", principal=False).parse_args(argv)
    identity_inputs = _inputs(args.policy_input_list, "PolicyInputList")
    boundary_inputs = _inputs(args.permissions_boundary_policy_input_list, "PermissionsBoundaryPolicyInputList", "boundary")
    caller = Principal(arn=args.caller_arn) if args.caller_arn else None
    return _common(args, _compile(identity_inputs), _compile(boundary_inputs) or None, caller,
                   identity_inputs + boundary_inputs, caller.account if caller else None)


def simulate_principal_policy(argv: list[str], load_project) -> dict:
    args = _parser("simulate-principal-policy", principal=True).parse_args(argv)
    project = load_project(args.project)
    store = project.identities
    identity = store.principals.get(args.policy_source_arn) if store else None
    if identity is None:
        known = ", ".join(sorted(store.principals)) if store else "none"
        error(f"--policy-source-arn {args.policy_source_arn} is not a user or role of {project.file}",
              f"known principals: {known}")
        sys.exit(ExitStatus.CONFIG)
    extra_inputs = _inputs(args.policy_input_list, "PolicyInputList")
    principal = Principal(arn=args.caller_arn) if args.caller_arn else identity.principal
    return _common(args, [*identity.policies, *_compile(extra_inputs)],
                   [identity.boundary] if identity.boundary else None, principal, extra_inputs, identity.account)
