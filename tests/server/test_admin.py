"""The admin endpoint (``GET /explain/{id}`` for ``lychgate explain``): loopback only, its own token only.

The gateway is started on every interface (``--host 0.0.0.0``) so that the machine's other
addresses demonstrably reach *it*, while its admin port, on the same addresses, refuses the
connection. Requests that do reach the admin port are refused without the gateway's own token.
"""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
import requests

from helpers import openapi, proxy_op, write_project
from lychgate.server.admin import REGISTRY

HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"


@pytest.fixture
def project(tmp_path):
    config = {"apis": [{"id": "adm", "openapi": "openapi.yaml", "stages": {"prod": {"access_log": False}}}],
              "functions": {"fn": "h.py:handler"}}
    return write_project(tmp_path, openapi({"/ok": {"get": proxy_op("fn")}}), config=config, files={"h.py": HANDLER})


def admin_of(server) -> dict:
    """What the gateway registered for `lychgate explain`: its admin URL and token."""
    return json.loads((REGISTRY / f"{server.proc.pid}.json").read_text())


def other_addresses() -> list[str]:
    """This machine's own IPv4 addresses outside 127.0.0.0/8 (the kernel's local routes)."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    found = {lines[i - 1].split("-- ")[-1].strip() for i, line in enumerate(lines)
             if line.strip() == "/32 host LOCAL" and i > 0}
    return sorted(a for a in found if not a.startswith("127."))


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def test_admin_endpoint_listens_on_loopback_only(serve, project):
    addresses = other_addresses()
    if not addresses:
        pytest.skip("this machine has no IPv4 address outside 127.0.0.0/8 to try the admin port on")
    server = serve(project, "--host", "0.0.0.0")
    admin_port = int(admin_of(server)["admin"].rsplit(":", 1)[1])
    assert connects("127.0.0.1", admin_port)
    for address in addresses:
        # The address reaches this gateway (so a refusal below is the admin endpoint's doing)...
        r = requests.get(f"http://{address}:{server.port}/prod/ok", timeout=5)
        assert (r.status_code, r.text) == (200, "ok"), address
        # ...but not its admin endpoint.
        assert not connects(address, admin_port), f"the admin endpoint answers on {address}"


def test_admin_endpoint_needs_this_gateways_token(serve, project, tmp_path):
    server = serve(project)
    other = serve(write_project(tmp_path / "other", openapi({"/ok": {"get": proxy_op("fn")}}),
                                config={"apis": [{"id": "adm2", "openapi": "openapi.yaml"}],
                                        "functions": {"fn": "h.py:handler"}}, files={"h.py": HANDLER}))
    admin, other_admin = admin_of(server), admin_of(other)
    assert admin["admin"].startswith("http://127.0.0.1:") and admin["token"] != other_admin["token"]
    # The registration holding the token is readable by its owner only.
    assert stat.S_IMODE(REGISTRY.stat().st_mode) == 0o700
    assert stat.S_IMODE((REGISTRY / f"{server.proc.pid}.json").stat().st_mode) == 0o600
    request_id = requests.get(f"{server.url}/prod/ok").headers["x-amzn-RequestId"]
    url = f"{admin['admin']}/explain/{request_id}"
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer wrong-token"},
                    {"Authorization": f"Bearer {other_admin['token']}"},  # another gateway's token
                    {"Authorization": f"Basic {admin['token']}"}, {"X-Token": admin["token"]},
                    {"Authorization": admin["token"]},  # the token without its scheme
                    {"Authorization": f"Bearer {admin['token'][:-1]}"}):
        r = requests.get(url, headers=headers, timeout=5)
        assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"}), headers
    r = requests.get(url, headers={"Authorization": f"Bearer {admin['token']}"}, timeout=5)
    assert r.status_code == 200 and r.json()["requestId"] == request_id
    # Another gateway's admin endpoint, even with its own token, knows nothing of this request.
    r = requests.get(f"{other_admin['admin']}/explain/{request_id}",
                     headers={"Authorization": f"Bearer {other_admin['token']}"}, timeout=5)
    assert r.status_code == 404
