"""``open_store(url)``: which store each URL gives, and a clear ValueError for a bad one."""

from __future__ import annotations

import pytest

from lychgate.store import StoreUnavailable, open_store
from lychgate.store.base import redact
from lychgate.store.memory import MemoryStore
from lychgate.store.redis import RedisStore
from lychgate.store.sqlite import SqliteStore


@pytest.mark.parametrize("url, kind", [
    ("memory", MemoryStore),
    ("memory://", MemoryStore),
    ("sqlite:///state.db", SqliteStore),
    ("sqlite:////var/lib/lychgate/state.db?timeout=2.5", SqliteStore),
    ("redis://127.0.0.1:6379/0", RedisStore),
    ("redis://:pw@cache.internal", RedisStore),
    ("rediss://user:pw@cache.internal:6380/2?timeout=0.5", RedisStore),
    ("redis+cluster://10.0.0.1:7000", RedisStore),
    ("rediss+cluster://10.0.0.1:7000/0", RedisStore),
    ("redis://127.0.0.1:6379/0?max_connections=8&health_check_interval=30", RedisStore),
])
def test_urls_open_the_right_store(url, kind):
    assert type(open_store(url)) is kind


def test_sqlite_paths_follow_sqlalchemy():
    assert open_store("sqlite:///data/state.db").path == "data/state.db"
    store = open_store("sqlite:////var/lib/state%20one.db?timeout=2.5")
    assert (store.path, store.timeout) == ("/var/lib/state one.db", 2.5)


@pytest.mark.parametrize("url, fragment", [
    ("", "non-empty"),
    ("memcached://host", "unknown scheme 'memcached'"),
    ("state.db", "unknown scheme"),
    ("memory://x", "takes no path"),
    ("sqlite://host/state.db", "no host"),
    ("sqlite:///", "no host"),
    ("sqlite:///state.db?timeout=never", "timeout must be a positive number"),
    ("sqlite:///state.db?cache=shared", "unknown option(s) ['cache']"),
    ("redis://", "a host is required"),
    ("redis://host:99999", "port must be a number"),
    ("redis://host:abc", "port must be a number"),
    ("redis://host/zero", "database number"),
    ("redis+cluster://host:7000/3", "only database 0"),
    ("redis://host?timeout=0", "timeout must be a positive number"),
    ("redis://host?max_connections=0", "max_connections must be a positive integer"),
])
def test_bad_urls_raise_value_error(url, fragment):
    with pytest.raises(ValueError) as caught:
        open_store(url)
    assert fragment in str(caught.value)


def test_value_errors_never_show_a_password():
    with pytest.raises(ValueError) as caught:
        open_store("redis://admin:s3cret@host:notaport")
    assert "s3cret" not in str(caught.value) and "admin:***@host" in str(caught.value)


@pytest.mark.parametrize("url, shown", [
    ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
    ("rediss://admin:s3cret@host", "rediss://admin:***@host"),
    ("redis://host/0?password=s3cret&x=1", "redis://host/0?password=***&x=1"),
    ("redis://host:6379", "redis://host:6379"),
])
def test_redact(url, shown):
    assert redact(url) == shown


def test_store_unavailable_names_the_store():
    error = StoreUnavailable("redis://:***@host", "ConnectionError: refused")
    assert str(error) == "state store redis://:***@host unavailable: ConnectionError: refused"
    assert open_store("redis://:s3cret@host").url == "redis://:***@host"
