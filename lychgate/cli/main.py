"""The ``lychgate`` command: ``serve`` a project, ``check`` it."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from lychgate.cli.output import ExitStatus, error, print_problems
from lychgate.config.model import Project
from lychgate.config.project import load_project
from lychgate.errors import ConfigError, Problem
from lychgate.functions.invoke import FunctionLoadError, load_handler


def _load(path: str, parameter_overrides: tuple[str, ...] = (), env_vars: str | None = None) -> Project:
    """Load a project and import its handlers; on problems print them all and exit 2."""
    try:
        overrides = None
        if parameter_overrides:
            from lychgate.config.cloudformation import parse_parameter_overrides
            overrides = parse_parameter_overrides(list(parameter_overrides))
        project = load_project(path, parameter_overrides=overrides, env_vars_file=Path(env_vars) if env_vars else None)
    except ValueError as exc:
        error(f"--parameter-overrides: {exc}", "use Key=Value or ParameterKey=K,ParameterValue=V")
        sys.exit(ExitStatus.CONFIG)
    except ConfigError as exc:
        print_problems(exc.problems)
        errors = sum(p.severity == "error" for p in exc.problems)
        error(f"{path}: {errors} problem(s) found", "fix the lines above; `lychgate check` lists them again")
        sys.exit(ExitStatus.CONFIG)
    handler_problems = _handler_problems(project) or _runtime_problems(project)
    print_problems(project.warnings)
    if handler_problems:
        print_problems(handler_problems)
        error(f"{path}: {len(handler_problems)} problem(s) found")
        sys.exit(ExitStatus.CONFIG)
    return project


def _generate_keys_once(project: Project) -> None:
    """With several workers on a shared store, generate declared keys' values before forking."""
    import asyncio

    from lychgate.store import open_store
    from lychgate.usage import keys

    async def generate() -> None:
        store = open_store(project.state)
        try:
            _, _, generated = await keys.load(store, project.usage_plans, project.api_keys)
        finally:
            await store.close()
        for name, value in generated:
            click.echo(f"lychgate: API key {name!r} was generated; its value, shown only this once: {value}")
    asyncio.run(generate())


def _reload_project(path: str, parameter_overrides, env_vars) -> Project:
    """For SIGHUP: the project loaded and checked as `lychgate check` would; ConfigError if not sound."""
    overrides = None
    if parameter_overrides:
        from lychgate.config.cloudformation import parse_parameter_overrides
        overrides = parse_parameter_overrides(list(parameter_overrides))
    project = load_project(path, parameter_overrides=overrides, env_vars_file=Path(env_vars) if env_vars else None)
    problems = _handler_problems(project) or _runtime_problems(project)
    if problems:
        raise ConfigError(problems)
    return project


def _runtime_problems(project: Project) -> list[Problem]:
    """Definitions that load but cannot run (e.g. an authorizer missing its issuer)."""
    from lychgate.pipeline.runtime import Gateway

    gateway = Gateway(project, access_log=False)
    gateway.close()
    return gateway.problems


def _handler_problems(project: Project) -> list[Problem]:
    problems = []
    for name, spec in project.functions.items():
        try:
            load_handler(spec)
        except FunctionLoadError as exc:
            problems.append(Problem(str(project.file), f"/functions/{name}", str(exc)))
    return problems


@click.group()
def main() -> None:
    """lychgate: serve APIs described for Amazon API Gateway, with AWS's authorization behaviour."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


TEMPLATE_OPTIONS = (
    click.option("--parameter-overrides", "parameter_overrides", multiple=True,
                 help="SAM/CloudFormation parameters: Key=Value (repeatable), as `sam` accepts them."),
    click.option("--env-vars", type=click.Path(exists=True, dir_okay=False),
                 help="A JSON file of function environment variables, as `sam local --env-vars` takes it."),
)


def template_options(command):
    for option in reversed(TEMPLATE_OPTIONS):
        command = option(command)
    return command


@main.command()
@click.argument("path", type=click.Path(exists=True))
@template_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on (0: any free port).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--no-access-log", is_flag=True, help="Do not write access-log lines.")
@click.option("--execution-log", is_flag=True,
              help="Write API Gateway-style execution-log lines for every request (stderr).")
@click.option("--explain", "explain_header", is_flag=True,
              help="Dev switch: add an x-lychgate-explain header with the cause to every refused request.")
@click.option("--watch", is_flag=True,
              help="Reload when a file of the project's folder changes (validated first, as on SIGHUP).")
def serve(path: str, parameter_overrides, env_vars, host: str, port: int, workers: int, no_access_log: bool,
          execution_log: bool, explain_header: bool, watch: bool) -> None:
    """Serve the project at PATH: a folder with lychgate.yaml or a SAM/CloudFormation template, or the file."""
    from lychgate.server.admin import new_token
    from lychgate.server.run import (ServeOptions, bind, enforcement, flush_ready, needs_shared_state,
                                     serve as run_server, urls)

    project = _load(path, parameter_overrides, env_vars)
    if workers > 1 and project.state == "memory" and needs_shared_state(project):
        error(f"--workers {workers} with `state: memory` would enforce API keys, throttles and quotas once per "
              "worker, i.e. up to N times too loose", "use `state: sqlite:///state.db` or `state: redis://...`, "
              "or --workers 1")
        sys.exit(ExitStatus.CONFIG)
    if workers > 1:
        _generate_keys_once(project)
    try:
        sock = bind(host, port, workers=workers)
    except OSError as exc:
        error(f"cannot listen on {host}:{port}: {exc.strerror}", "choose another --port")
        sys.exit(ExitStatus.ERROR)
    port = sock.getsockname()[1]
    for line in urls(project, host, port):
        click.echo(line)
    click.echo("lychgate: enforced per route:")
    for line in enforcement(project):
        click.echo(line)
    options = ServeOptions(workers=workers, access_log=not no_access_log, explain_header=explain_header,
                           execution_log=execution_log, admin_token=new_token(),
                           reload=lambda: _reload_project(path, parameter_overrides, env_vars),
                           watch=project.file.parent if watch else None)
    click.echo("lychgate: why was a request refused? `lychgate explain REQUEST_ID` (x-amzn-RequestId / apigw-requestid)")
    status = run_server(project, sock, options,
                        on_ready=lambda: flush_ready(f"lychgate: serving on http://{host}:{port}"))
    sys.exit(status)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@template_options
@click.option("--offline", is_flag=True,
              help="Skip the checks that need the network (fetching token authorizers' JWKS).")
def check(path: str, parameter_overrides, env_vars, offline: bool) -> None:
    """Validate the project at PATH; exit 0 if it can be served, 2 with every problem listed."""
    from lychgate.authorizers.reachability import unreachable_jwks
    from lychgate.config.check import findings

    project = _load(path, parameter_overrides, env_vars)
    found = findings(project) + ([] if offline else unreachable_jwks(project))
    print_problems(found)
    apis = ", ".join(f"{api.id} ({api.protocol}, {len(api.methods)} routes)" for api in project.apis)
    click.echo(f"lychgate: {project.file}: OK: {apis}; {len(project.warnings)} warning(s), "
               f"{len(found)} finding(s)")


@main.group()
def iam() -> None:
    """The AWS IAM policy simulator, offline (same arguments and output as the AWS CLI)."""


_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@iam.command("simulate-custom-policy", context_settings=_PASS_THROUGH)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def simulate_custom_policy(argv: tuple[str, ...]) -> None:
    """Like `aws iam simulate-custom-policy` (--policy-input-list, --action-names, --resource-arns, ...)."""
    from lychgate.cli import iam as iam_cli
    click.echo(json.dumps(iam_cli.simulate_custom_policy(list(argv)), indent=4, ensure_ascii=False))


@iam.command("simulate-principal-policy", context_settings=_PASS_THROUGH)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def simulate_principal_policy(argv: tuple[str, ...]) -> None:
    """Like `aws iam simulate-principal-policy`, for a user or role of a project (--project PATH)."""
    from lychgate.cli import iam as iam_cli
    click.echo(json.dumps(iam_cli.simulate_principal_policy(list(argv), _load), indent=4, ensure_ascii=False))


@main.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(request_id: str, as_json: bool) -> None:
    """Explain a recent request of a running gateway on this machine: the cause first, then every step."""
    from lychgate.cli.explain import fetch
    from lychgate.pipeline.explain import render_text

    found = fetch(request_id)
    if found is None:
        error(f"no running gateway on this machine remembers request {request_id}",
              "the gateway keeps its last 1000 requests; is it still running?")
        sys.exit(ExitStatus.ERROR)
    click.echo(json.dumps(found, indent=2, ensure_ascii=False) if as_json else render_text(found))


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.argument("method")
@click.argument("target", metavar="PATH")
@click.option("--as", "as_name", help="Sign the request (SigV4) as this user or role, with its first access key.")
@click.option("--access-key", help="Sign the request with this declared access key.")
@click.option("--anonymous", is_flag=True, help="Send the request unsigned (the default).")
@click.option("--header", "-H", "headers", multiple=True, help="A request header, NAME:VALUE (repeatable).")
@click.option("--api-key", help="Send this x-api-key header.")
@click.option("--token", help="Send this token (JWT, or a Lambda authorizer's token) as the Authorization header.")
@click.option("--data", default="", help="The request body.")
@click.option("--source-ip", default="127.0.0.1", show_default=True, help="The caller's IP address (aws:SourceIp).")
@click.option("--host", default="127.0.0.1:8080", show_default=True,
              help="The Host header (e.g. API.execute-api.localhost for host-style URLs).")
@click.option("--after", "after", multiple=True, metavar='"METHOD PATH"',
              help="Send this request first, with the same headers (repeatable): caches, throttles and quotas "
                   "then stand as they would on a running gateway.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def simulate(path, method, target, as_name, access_key, anonymous, headers, api_key, token, data, source_ip, host,
             after, as_json) -> None:
    """Run a request through the gateway's pipeline offline, up to the integration.

    PATH is the project; then the METHOD and the request PATH exactly as a client sends it (with
    the stage, e.g. /prod/pets/1). Exit status 0 when the request would be allowed, 1 when refused.
    The gateway starts fresh (empty authorizer cache, full throttle buckets, unused quotas) unless
    --after requests ran first.
    """
    from lychgate.cli import simulate as sim
    from lychgate.pipeline.explain import render_text

    project = _load(path)
    try:
        key = None if anonymous else sim.key_for(project, as_name, access_key)
        extra = ([f"x-api-key:{api_key}"] if api_key else []) + ([f"Authorization:{token}"] if token else [])
        request = sim.build_request(method, target, list(headers) + extra, data.encode(), source_ip, host)
        earlier = [sim.build_request(*sim.parse_after(text), list(headers) + extra, data.encode(), source_ip, host)
                   for text in after]
    except sim.SimulateError as exc:
        error(str(exc))
        sys.exit(ExitStatus.CONFIG)
    result = sim.simulate(project, request, key, earlier)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False) if as_json else render_text(result))
    sys.exit(ExitStatus.OK if result["outcome"] == "allowed" else ExitStatus.ERROR)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--sub", required=True, help="The subject (user id).")
@click.option("--username", help="cognito:username / username (default: the subject).")
@click.option("--groups", default="", help="cognito:groups, comma-separated.")
@click.option("--scope", "scopes", multiple=True, help="An OAuth scope (repeatable); implies an access token.")
@click.option("--client-id", help="The app client id (aud of id tokens, client_id of access tokens).")
@click.option("--token-use", type=click.Choice(["id", "access"]), help="Default: access with --scope, else id.")
@click.option("--ttl", default=3600, show_default=True, type=int, help="Seconds until the token expires.")
def token(path, sub, username, groups, scopes, client_id, token_use, ttl) -> None:
    """Mint a Cognito-shaped token from the project's local identity provider (`local_idp`)."""
    from lychgate.pipeline.runtime import local_identity_provider

    project = _load(path)
    idp = local_identity_provider(project.local_idp)
    if idp is None:
        error(f"{project.file} has no local_idp section", "add `local_idp: {user_pools: [...]}` to lychgate.yaml")
        sys.exit(ExitStatus.CONFIG)
    use = token_use or ("access" if scopes else "id")
    click.echo(idp.mint(sub, username=username, groups=[g for g in groups.split(",") if g], scopes=scopes,
                        client_id=client_id, token_use=use, ttl=ttl))


def _register_key_commands() -> None:
    from lychgate.cli import keys
    keys.register(main, _load)


_register_key_commands()


@main.command()
@click.argument("path", type=click.Path(exists=True))
@template_options
@click.option("--api", "api_id", help="The API to export (default: the project's only API).")
@click.option("--stage", required=True, help="The stage whose URL the document's servers name.")
def export(path, parameter_overrides, env_vars, api_id, stage) -> None:
    """Print the effective API as OpenAPI 3.0 with x-amazon-apigateway-* extensions (like get-export)."""
    from lychgate.config.cloudformation.export import export_openapi

    project = _load(path, parameter_overrides, env_vars)
    apis = [a for a in project.apis if api_id in (None, a.id)]
    if len(apis) != 1 or stage not in apis[0].stages:
        names = ", ".join(f"{a.id} (stages {', '.join(a.stages)})" for a in project.apis)
        error(f"choose one API and one of its stages with --api and --stage; the project has: {names}")
        sys.exit(ExitStatus.CONFIG)
    click.echo(json.dumps(export_openapi(apis[0], stage, region=project.region, account_id=project.account_id),
                          indent=2, ensure_ascii=False))
