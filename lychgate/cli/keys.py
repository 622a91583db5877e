"""``lychgate keys``, ``lychgate plans`` and ``lychgate usage``: API keys and usage plans in the state store.

Keys created here are stored hashed; the value is printed once, at creation. Running gateways
pick changes up within seconds. A project with ``state: memory`` has no store to manage from
another process, so these commands need ``state: sqlite:///…`` or ``redis://…``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import click

from lychgate.cli.output import ExitStatus, error
from lychgate.config.model import ApiStage, Project, Quota, Throttle, UsagePlan
from lychgate.store import open_store
from lychgate.usage import keys as k
from lychgate.usage.throttle import Limiter, period_bounds


def _store(project: Project):
    if project.state == "memory":
        error(f"{project.file} uses `state: memory`, which lives inside one gateway process",
              "set `state: sqlite:///state.db` (or redis://...) to manage keys from the command line")
        sys.exit(ExitStatus.CONFIG)
    return open_store(project.state)


def run(project: Project, action):
    """Run ``action(store)`` against the project's store, closing it afterwards."""
    async def main():
        store = _store(project)
        try:
            return await action(store)
        finally:
            await store.close()
    return asyncio.run(main())


def _known_plans(project: Project, records: dict) -> set[str]:
    return {p.name for p in project.usage_plans} | {r["name"] for r in records.values()}


async def create_key(project: Project, store, name: str, plans: tuple[str, ...], value: str | None) -> tuple[k.ApiKey, str]:
    known = _known_plans(project, await store.list_records(k.PLAN_RECORD))
    unknown = [p for p in plans if p not in known]
    if unknown:
        raise click.UsageError(f"no usage plan named {', '.join(unknown)} (plans: {', '.join(sorted(known)) or 'none'})")
    value = value or k.new_key_value()
    key = k.ApiKey(k.new_id(), name, k.key_hash(value), True, plans, time.time())
    await store.put_record(k.KEY_RECORD, key.id, key.record())
    return key, value


def register(main: click.Group, load) -> None:
    """Add the ``keys``, ``plans`` and ``usage`` commands to the CLI."""

    @main.group()
    def keys() -> None:
        """API keys in the project's state store."""

    @keys.command("create")
    @click.argument("path", type=click.Path(exists=True))
    @click.option("--name", required=True)
    @click.option("--plan", "plans", multiple=True, help="A usage plan the key belongs to (repeatable).")
    @click.option("--value", help="The key value (20-128 characters); generated when absent.")
    def create(path, name, plans, value):
        """Create a key; its value is printed once."""
        if value is not None and not 20 <= len(value) <= 128:
            raise click.BadParameter("an API key value has 20 to 128 characters", param_hint="--value")
        project = load(path)
        key, value = run(project, lambda store: create_key(project, store, name, plans, value))
        click.echo(json.dumps({"id": key.id, "name": key.name, "value": value, "enabled": True,
                               "usagePlans": list(plans)}, indent=2))
        click.echo("lychgate: store the value now: it is not shown again", err=True)

    @keys.command("list")
    @click.argument("path", type=click.Path(exists=True))
    def list_keys(path):
        """Keys (never their values): from lychgate.yaml and from the store."""
        project = load(path)
        records = run(project, lambda store: store.list_records(k.KEY_RECORD))
        rows = [{"id": k.new_id(f"config:{d.name}"), "name": d.name, "enabled": d.enabled,
                 "usagePlans": list(d.usage_plans), "source": "lychgate.yaml"} for d in project.api_keys]
        rows += [{"id": r["id"], "name": r["name"], "enabled": r["enabled"], "usagePlans": r["usage_plans"],
                  "source": "store", "createdDate": _iso(r["created"])} for r in records.values()]
        click.echo(json.dumps({"items": rows}, indent=2))

    def _toggle(path, key_id, enabled: bool | None):
        project = load(path)

        async def action(store):
            record = await store.get_record(k.KEY_RECORD, key_id)
            if record is None:
                return False
            if enabled is None:
                return await store.delete_record(k.KEY_RECORD, key_id)
            await store.put_record(k.KEY_RECORD, key_id, {**record, "enabled": enabled})
            return True
        if not run(project, action):
            error(f"no key {key_id} in the store", "`lychgate keys list` shows the ids (keys of lychgate.yaml are changed there)")
            sys.exit(ExitStatus.ERROR)

    for verb, enabled in (("enable", True), ("disable", False), ("delete", None)):
        def command(path, key_id, enabled=enabled):
            _toggle(path, key_id, enabled)
        command.__doc__ = f"{verb.capitalize()} a key created in the store."
        keys.command(verb)(click.argument("path", type=click.Path(exists=True))(click.argument("key_id")(command)))

    @keys.command("import")
    @click.argument("path", type=click.Path(exists=True))
    @click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
    def import_keys(path, csv_file):
        """Import keys from the CSV `aws apigateway import-api-keys --format csv` accepts."""
        project = load(path)
        rows = read_key_csv(Path(csv_file))

        async def action(store):
            return [await create_key(project, store, row["name"], row["plans"], row["value"]) for row in rows]
        created = run(project, action)
        click.echo(json.dumps({"ids": [key.id for key, _ in created], "warnings": []}, indent=2))

    @main.group()
    def plans() -> None:
        """Usage plans: from lychgate.yaml and the state store."""

    @plans.command("list")
    @click.argument("path", type=click.Path(exists=True))
    def list_plans(path):
        project = load(path)
        records = run(project, lambda store: store.list_records(k.PLAN_RECORD))
        items = [{**k.plan_record(p), "source": "lychgate.yaml"} for p in project.usage_plans]
        items += [{**r, "source": "store"} for r in records.values()]
        click.echo(json.dumps({"items": items}, indent=2))

    @plans.command("create")
    @click.argument("path", type=click.Path(exists=True))
    @click.option("--name", required=True)
    @click.option("--api-stage", "api_stages", multiple=True, required=True, help="API_ID:STAGE (repeatable).")
    @click.option("--rate", type=float, help="Throttle: requests per second.")
    @click.option("--burst", type=int, help="Throttle: bucket size.")
    @click.option("--quota-limit", type=int)
    @click.option("--quota-period", type=click.Choice(["DAY", "WEEK", "MONTH"]), default="DAY")
    def create_plan(path, name, api_stages, rate, burst, quota_limit, quota_period):
        project = load(path)
        stages = [ApiStage(*s.split(":", 1)) for s in api_stages if ":" in s]
        if len(stages) != len(api_stages):
            raise click.BadParameter("expected API_ID:STAGE", param_hint="--api-stage")
        throttle = Throttle(rate, burst) if rate is not None and burst is not None else None
        plan = UsagePlan(name, tuple(stages), throttle, Quota(quota_limit, quota_period) if quota_limit else None)
        run(project, lambda store: store.put_record(k.PLAN_RECORD, name, k.plan_record(plan)))
        click.echo(json.dumps(k.plan_record(plan), indent=2))

    @plans.command("delete")
    @click.argument("path", type=click.Path(exists=True))
    @click.argument("name")
    def delete_plan(path, name):
        project = load(path)
        if not run(project, lambda store: store.delete_record(k.PLAN_RECORD, name)):
            error(f"no usage plan {name} in the store")
            sys.exit(ExitStatus.ERROR)

    @main.command()
    @click.argument("path", type=click.Path(exists=True))
    @click.argument("key_id")
    @click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]))
    @click.option("--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]))
    def usage(path, key_id, start, end):
        """Per-day usage of a key, shaped like `aws apigateway get-usage`."""
        project = load(path)
        result = run(project, lambda store: usage_report(project, store, key_id, start.date(), end.date()))
        click.echo(json.dumps(result, indent=2))


async def usage_report(project: Project, store, key_id: str, start: date, end: date) -> dict:
    """``{"usagePlanId", "startDate", "endDate", "items": {keyId: [[used, remaining], ...]}}``."""
    record = await store.get_record(k.KEY_RECORD, key_id)
    plan_names = record["usage_plans"] if record else next(
        (d.usage_plans for d in project.api_keys if k.new_id(f"config:{d.name}") == key_id), [])
    plans = {p.name: p for p in project.usage_plans}
    plans.update({r["name"]: k.plan_from_record(r) for r in (await store.list_records(k.PLAN_RECORD)).values()})
    plan = next((plans[n] for n in plan_names if n in plans), None)
    days = await Limiter(store).usage_between(f"usage/{key_id}", start, end)
    return {"usagePlanId": plan.name if plan else None, "startDate": start.isoformat(), "endDate": end.isoformat(),
            "items": {key_id: _used_remaining(days, plan.quota if plan else None)}}


def _used_remaining(days: dict[date, int], quota: Quota | None) -> list[list[int]]:
    out, used_in_period, period_start = [], 0, None
    for day, used in sorted(days.items()):
        if quota is not None:
            start = period_bounds(quota.period, datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())[0]
            used_in_period = used_in_period if start == period_start else 0
            period_start = start
            used_in_period += used
        out.append([used, max(0, quota.limit - used_in_period) if quota else 0])
    return out


def read_key_csv(path: Path) -> list[dict]:
    """Rows of the import-api-keys CSV: Name, Key, Description, Enabled, UsagePlanIds (any case)."""
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for i, row in enumerate(csv.DictReader(handle), start=2):
            row = {(name or "").strip().lower(): (value or "").strip() for name, value in row.items()}
            if not row.get("key") or not 20 <= len(row["key"]) <= 128:
                raise click.BadParameter(f"{path}:{i}: column 'key' must hold a value of 20 to 128 characters")
            plans = tuple(p for p in row.get("usageplanids", "").replace(";", ",").split(",") if p)
            rows.append({"name": row.get("name") or row["key"][:8], "value": row["key"], "plans": plans})
    return rows


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()
