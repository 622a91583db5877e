"""``lychgate explain``: ask every running gateway's admin endpoint for a request's explanation."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from lychgate.server.admin import registered


def fetch(request_id: str) -> dict | None:
    for info in registered():
        request = urllib.request.Request(f"{info['admin']}/explain/{request_id}",
                                         headers={"Authorization": f"Bearer {info['token']}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return None
