"""Issue #8, "no secret in any log line": what every gateway of the test session wrote, what secrets
the session used, and the check that the first never contains the second.

``LEDGER`` is filled as the tests run, with no test having to ask:

* ``conftest.Server`` hands over everything its ``lychgate serve`` process wrote: the start-up
  lines, the rest of stdout and stderr, and the access-log files its project names;
* the project folder it served gives the secrets declared there: IAM secret keys and session
  tokens, API key values, state-store passwords, the local identity provider's private keys; the
  gateway's registration gives its admin token;
* a wrapper around ``requests``' ``HTTPAdapter.send`` (installed for the whole session) records
  what each request carried: Authorization values (the bearer token or the SigV4 signature
  inside), ``x-api-key``, ``X-Amz-Security-Token``, and presigned URLs' signature and token.

``find_leaks`` is the check, run once after the last test (``conftest.secrets_never_leak``).
Values shorter than ``MIN_LENGTH`` or with few distinct characters are not tracked: they would
match by chance. The one place a secret is meant to be printed is exempt: the start-up line that
shows a generated API key once (``GENERATED_KEY_LINE``). A test that demonstrates a known leak
(``xfail(strict=True)``) excuses its own outputs with ``excuse``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

import yaml

MIN_LENGTH = 8
MIN_DISTINCT = 5
GENERATED_KEY_LINE = re.compile(r"^lychgate: API key '[^']*' was generated; its value, shown only this once: \S+$",
                                re.MULTILINE)
SECRET_KEYS = {"secret", "secret_access_key", "secretaccesskey", "session_token", "sessiontoken", "password"}
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
PROJECT_FILE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_PROJECT_FILE_BYTES = 1 << 20
SIGV4_SIGNATURE = re.compile(r"Signature=([0-9a-fA-F]{64})")


@dataclass(frozen=True)
class Output:
    """Something a gateway wrote: ``source`` says what (stdout, stderr, an access-log file)."""

    test: str
    source: str
    text: str


@dataclass(frozen=True)
class Leak:
    secret: str
    what: str
    output: Output

    def __str__(self) -> str:
        line = next((l for l in self.output.text.splitlines() if self.secret in l), self.output.text)
        shown = line.replace(self.secret, f"<<{self.what}>>")
        return f"{self.output.test}: {self.output.source} contains {self.what}:\n    {shown[:400]}"


@dataclass
class Ledger:
    secrets: dict[str, str] = field(default_factory=dict)  # value -> what it is and which test used it
    outputs: list[Output] = field(default_factory=list)
    excused: dict[str, str] = field(default_factory=dict)  # test id -> why its outputs may leak
    checked: int | None = None  # leaks found by the session's check, once it ran

    # ------------------------------------------------------------------ recording

    def add_secret(self, value: Any, what: str, test: str | None = None) -> None:
        if not trackable(value):
            return
        self.secrets.setdefault(value, f"{what} (used by {test or current_test()})")

    def add_output(self, source: str, text: str, test: str | None = None) -> None:
        if text:
            self.outputs.append(Output(test or current_test(), source, text))

    def excuse(self, test: str, reason: str) -> None:
        self.excused[test] = reason

    def server_started(self, args: list[str], pid: int) -> None:
        """A `lychgate serve` process is up: its project's secrets, and its admin token."""
        from lychgate.server.admin import REGISTRY

        project = served_path(args)
        if project is not None:
            for value, what in project_secrets(project if project.is_dir() else project.parent):
                self.add_secret(value, what)
        try:
            self.add_secret(json.loads((REGISTRY / f"{pid}.json").read_text())["token"], "the admin token")
        except (OSError, ValueError, KeyError):
            pass

    def server_stopped(self, args: list[str], startup: str, out: str, err: str) -> None:
        """Everything the process wrote, and the access-log files its project names."""
        test = current_test()
        self.add_output("stdout", startup + out, test)
        self.add_output("stderr", err, test)
        project = served_path(args)
        if project is not None:
            for log in access_log_files(project if project.is_dir() else project.parent):
                self.add_output(f"access log {log}", log.read_text(errors="replace"), test)

    def request_sent(self, url: str, headers: Any) -> None:
        """What one HTTP request of a test carried that must not be written anywhere."""
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "authorization":
                for part, what in authorization_secrets(value):
                    self.add_secret(part, what)
            elif lowered in ("x-api-key", "x-amz-security-token"):
                self.add_secret(value, f"the {name} header")
        for name, value in parse_qsl(urlsplit(url).query):
            if name in ("X-Amz-Signature", "X-Amz-Security-Token"):
                self.add_secret(value, f"the {name} query parameter")

    # ------------------------------------------------------------------ checking

    def summary(self) -> str:
        tests = {o.test for o in self.outputs}
        verdict = "no leak" if not self.checked else f"{self.checked} leak(s), listed in the error above"
        return (f"secrets ledger: {len(self.outputs)} outputs of gateways in {len(tests)} tests scanned for "
                f"{len(self.secrets)} secrets ({len(self.excused)} test(s) excused by a strict xfail): {verdict}")

    def leaks(self) -> list[Leak]:
        outputs = [o for o in self.outputs if o.test not in self.excused]
        return find_leaks(self.secrets, outputs)


def find_leaks(secrets: dict[str, str], outputs: Iterable[Output]) -> list[Leak]:
    """Every (secret, output) where the output contains the secret, outside the allowed line."""
    found = []
    for output in outputs:
        text = GENERATED_KEY_LINE.sub("", output.text) if output.source == "stdout" else output.text
        found += [Leak(secret, what, output) for secret, what in secrets.items() if secret in text]
    return found


def trackable(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= MIN_LENGTH and len(set(value)) >= MIN_DISTINCT


def current_test() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" (", 1)[0]


def served_path(args: list[str]) -> Path | None:
    """The PATH of a `lychgate serve PATH ...` command line."""
    args = [str(a) for a in args]
    try:
        return Path(args[args.index("serve") + 1]).resolve()
    except (ValueError, IndexError):
        return None


def authorization_secrets(value: str) -> list[tuple[str, str]]:
    """An Authorization value and the secret inside it: a SigV4 signature or a bearer token."""
    found = [(value, "an Authorization header value")]
    signature = SIGV4_SIGNATURE.search(value)
    if signature:
        found.append((signature.group(1), "a SigV4 signature"))
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() in ("bearer", "basic") and rest.strip():
        found.append((rest.strip(), f"a {scheme} token"))
    return found


def _project_documents(folder: Path) -> Iterable[tuple[Path, Any]]:
    """The YAML and JSON documents of a project folder, its .lychgate state included (3 levels)."""
    for root, dirs, files in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        if depth >= 3:
            dirs.clear()
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "node_modules", ".git")]
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix not in PROJECT_FILE_SUFFIXES:
                continue
            try:
                if path.stat().st_size > MAX_PROJECT_FILE_BYTES:
                    continue
                text = path.read_text()
                yield path, (json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))
            except (OSError, ValueError, yaml.YAMLError):
                continue


def project_secrets(folder: Path) -> list[tuple[str, str]]:
    """Secrets declared in a project: secret keys, session tokens, passwords, API key values,
    state-store URL passwords, private JWK members."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, where: str, parent_key: str = "") -> None:
        if isinstance(node, dict):
            if "kty" in node:
                found.extend((node[m], f"a private key member {m!r} in {where}")
                             for m in PRIVATE_JWK_MEMBERS if isinstance(node.get(m), str))
            for key, value in node.items():
                name = str(key).lower()
                if name in SECRET_KEYS and isinstance(value, str):
                    found.append((value, f"{key} in {where}"))
                elif name == "value" and parent_key == "api_keys" and isinstance(value, str):
                    found.append((value, f"an API key value in {where}"))
                elif name == "state" and isinstance(value, str) and urlsplit(value).password:
                    found.append((urlsplit(value).password, f"the state store password in {where}"))
                walk(value, where, name)
        elif isinstance(node, list):
            for item in node:
                walk(item, where, parent_key)

    for path, document in _project_documents(folder):
        walk(document, str(path))
    return found


def access_log_files(folder: Path) -> list[Path]:
    """Access-log files named by the project's lychgate.yaml (relative ones: to the project or cwd)."""
    found = []
    for path, document in _project_documents(folder):
        if path.name not in ("lychgate.yaml", "lychgate.yml", "lychgate.json"):
            continue
        for destination in _destinations(document):
            for candidate in (Path(destination), folder / destination):
                if candidate.is_file() and candidate.resolve() not in found:
                    found.append(candidate.resolve())
    return found


def _destinations(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "destination" and isinstance(value, str) and value not in ("stdout", "stderr", "-"):
                yield value
            else:
                yield from _destinations(value)
    elif isinstance(node, list):
        for item in node:
            yield from _destinations(item)


LEDGER = Ledger()


def install_request_recorder() -> Any:
    """Wrap ``requests.adapters.HTTPAdapter.send`` for the session; returns the original."""
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send

    def send(adapter, request, *args, **kwargs):
        LEDGER.request_sent(request.url, request.headers)
        return original(adapter, request, *args, **kwargs)

    HTTPAdapter.send = send
    return original


def uninstall_request_recorder(original: Any) -> None:
    from requests.adapters import HTTPAdapter

    HTTPAdapter.send = original
