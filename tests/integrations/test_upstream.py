"""The upstream client against scripted backends: framing, keep-alive, the stale-connection retry,
HEAD, limits, timeouts and failures."""

from __future__ import annotations

import asyncio

import pytest

from lychgate.upstream import MAX_RESPONSE_BYTES, UpstreamError, UpstreamPool


def run(coro):
    return asyncio.run(coro)


class Scripted(asyncio.Protocol):
    """A backend that answers each complete request head with ``answer(server, request)``: bytes
    to write, or None to stay silent; ``close_after`` closes the connection after answering."""

    def __init__(self, server: "Backend"):
        self.server = server
        self.buffer = b""

    def connection_made(self, transport):
        self.transport = transport
        self.server.connections += 1
        self.server.transports.append(transport)

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            request = head + b"\r\n\r\n" + rest[:length]
            self.server.requests.append(request)
            answer = self.server.answer(self.server, request)
            if answer is not None:
                self.transport.write(answer)
            if self.server.close_after:
                self.transport.close()


class Backend:
    def __init__(self, answer, close_after: bool = False):
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.transports = []

    async def __aenter__(self):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: Scripted(self), "127.0.0.1", 0)
        self.origin = ("http", "127.0.0.1", self.server.sockets[0].getsockname()[1])
        self.pool = UpstreamPool()  # the client under test, closed with the backend
        return self

    async def __aexit__(self, *exc):
        self.pool.close()
        self.server.close()
        for transport in self.transports:
            transport.close()


def fixed(data: bytes):
    return lambda server, request: data


def head(method="GET", path="/", body=b"") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()


OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


def test_response_status_headers_and_body_in_order():
    answer = (b"HTTP/1.1 201 Created\r\nX-One: 1\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty: \r\n"
              b"X-Latin: caf\xe9\r\nContent-Length: 3\r\n\r\nabc")

    async def main():
        async with Backend(fixed(answer)) as backend:
            pool = backend.pool
            r = await pool.request(backend.origin, head(), b"", timeout=5)
            return r
    r = run(main())
    assert r.status == 201 and r.body == b"abc"
    assert r.headers == [("X-One", "1"), ("set-cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Empty", ""),
                         ("X-Latin", "café"), ("Content-Length", "3")]


def test_keep_alive_reuses_one_connection_and_sends_the_body():
    async def main():
        async with Backend(fixed(OK)) as backend:
            pool = backend.pool
            bodies = [(await pool.request(backend.origin, head("POST", body=b"x" * n), b"x" * n, timeout=5)).body
                      for n in (0, 10, 70000)]
            return backend, bodies
    backend, bodies = run(main())
    assert bodies == [b"hello"] * 3 and backend.connections == 1
    assert backend.requests[2].endswith(b"\r\n\r\n" + b"x" * 70000)


def test_concurrent_requests_use_separate_connections():
    async def main():
        async with Backend(fixed(OK)) as backend:
            pool = backend.pool
            answers = await asyncio.gather(*(pool.request(backend.origin, head(), b"", timeout=5) for _ in range(3)))
            again = await pool.request(backend.origin, head(), b"", timeout=5)
            return backend, answers, again
    backend, answers, again = run(main())
    assert [a.body for a in answers] == [b"hello"] * 3 and again.body == b"hello"
    assert backend.connections == 3


def test_backend_closing_after_keep_alive_response_retries_once_on_a_fresh_connection():
    async def main():
        async with Backend(fixed(OK), close_after=True) as backend:
            pool = backend.pool
            first = await pool.request(backend.origin, head(), b"", timeout=5)
            await asyncio.sleep(0.05)  # the backend's close arrives while the connection is idle
            second = await pool.request(backend.origin, head(), b"", timeout=5)
            return backend, first, second
    backend, first, second = run(main())
    assert first.body == second.body == b"hello" and backend.connections == 2


def test_stale_idle_connection_closed_during_the_send_is_retried():
    async def main():
        async with Backend(fixed(OK)) as backend:
            pool = backend.pool
            await pool.request(backend.origin, head(), b"", timeout=5)
            # Close the backend's side without the pool noticing before it reuses the connection.
            for transport in backend.transports:
                transport.close()
            second = await pool.request(backend.origin, head(), b"", timeout=5)
            return backend, second
    backend, second = run(main())
    assert second.body == b"hello" and backend.connections == 2


def test_no_retry_once_the_backend_answered_something():
    calls = []

    def answer(server, request):
        calls.append(request)
        return OK if len(calls) == 1 else b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"

    async def main():
        async with Backend(answer) as backend:
            pool = backend.pool
            await pool.request(backend.origin, head(), b"", timeout=5)

            async def close_soon():
                await asyncio.sleep(0.05)
                for transport in backend.transports:
                    transport.close()
            closer = asyncio.ensure_future(close_soon())
            with pytest.raises(UpstreamError, match="before a complete response"):
                await pool.request(backend.origin, head(), b"", timeout=5)
            await closer
            return backend
    backend = run(main())
    assert backend.connections == 1


def test_connection_close_from_the_backend_is_not_reused():
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

    async def main():
        async with Backend(fixed(answer)) as backend:
            pool = backend.pool
            for _ in range(2):
                assert (await pool.request(backend.origin, head(), b"", timeout=5)).body == b"ok"
            return backend
    assert run(main()).connections == 2


def test_head_response_has_no_body_whatever_its_content_length():
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\n"

    async def main():
        async with Backend(fixed(answer)) as backend:
            pool = backend.pool
            first = await pool.request(backend.origin, head("HEAD"), b"", timeout=5, head_only=True)
            second = await pool.request(backend.origin, head("HEAD"), b"", timeout=5, head_only=True)
            return backend, first, second
    backend, first, second = run(main())
    assert (first.status, first.headers, first.body) == (200, [("Content-Length", "5"), ("X-A", "b")], b"")
    assert second.body == b"" and backend.connections == 2  # a HEAD's connection is not reused


def test_close_delimited_body_ends_with_the_connection():
    async def main():
        async with Backend(fixed(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil close"), close_after=True) as backend:
            pool = backend.pool
            r = await pool.request(backend.origin, head(), b"", timeout=5)
            r2 = await pool.request(backend.origin, head(), b"", timeout=5)
            return backend, r, r2
    backend, r, r2 = run(main())
    assert (r.status, r.headers, r.body) == (200, [("X-A", "1")], b"until close")
    assert r2.body == b"until close" and backend.connections == 2


def test_close_delimited_empty_body():
    async def main():
        async with Backend(fixed(b"HTTP/1.1 200 OK\r\n\r\n"), close_after=True) as backend:
            pool = backend.pool
            r = await pool.request(backend.origin, head(), b"", timeout=5)
            return r
    r = run(main())
    assert (r.status, r.headers, r.body) == (200, [], b"")


def test_204_without_framing_completes_without_waiting_for_close():
    async def main():
        async with Backend(fixed(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")) as backend:
            pool = backend.pool
            r = await pool.request(backend.origin, head(), b"", timeout=5)
            r2 = await pool.request(backend.origin, head(), b"", timeout=5)
            return backend, r, r2
    backend, r, r2 = run(main())
    assert (r.status, r.headers, r.body, r2.status) == (204, [("X-A", "1")], b"", 204)
    assert backend.connections == 1


def test_connection_closed_mid_headers_is_an_error():
    async def main():
        async with Backend(fixed(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n"), close_after=True) as backend:
            pool = backend.pool
            with pytest.raises(UpstreamError, match="before a complete response"):
                await pool.request(backend.origin, head(), b"", timeout=5)
    run(main())


def test_chunked_body():
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    async def main():
        async with Backend(fixed(answer)) as backend:
            pool = backend.pool
            r = await pool.request(backend.origin, head(), b"", timeout=5)
            r2 = await pool.request(backend.origin, head(), b"", timeout=5)
            return backend, r, r2
    backend, r, r2 = run(main())
    assert (r.headers, r.body, r2.body) == ([("Transfer-Encoding", "chunked")], b"hello world", b"hello world")
    assert backend.connections == 1


def test_response_split_across_many_packets():
    answer = b"HTTP/1.1 200 OK\r\nX-Long-Name: " + b"v" * 100 + b"\r\nContent-Length: 10\r\n\r\n0123456789"

    class Trickle(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            asyncio.ensure_future(self.trickle())

        async def trickle(self):
            for i in range(0, len(answer), 7):
                self.transport.write(answer[i:i + 7])
                await asyncio.sleep(0.001)

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Trickle, "127.0.0.1", 0)
        pool = UpstreamPool()
        r = await pool.request(("http", "127.0.0.1", server.sockets[0].getsockname()[1]), head(), b"", timeout=5)
        pool.close()
        server.close()
        return r
    r = run(main())
    assert r.headers == [("X-Long-Name", "v" * 100), ("Content-Length", "10")] and r.body == b"0123456789"


def test_response_over_the_cap_is_an_error():
    size = MAX_RESPONSE_BYTES + 1
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size

    async def main():
        async with Backend(fixed(answer)) as backend:
            pool = backend.pool
            with pytest.raises(UpstreamError, match="larger than 10 MB"):
                await pool.request(backend.origin, head(), b"", timeout=10)
    run(main())


def test_response_at_the_cap_is_fine():
    size = MAX_RESPONSE_BYTES
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size

    async def main():
        async with Backend(fixed(answer)) as backend:
            pool = backend.pool
            r = await pool.request(backend.origin, head(), b"", timeout=10)
            return r
    assert len(run(main()).body) == MAX_RESPONSE_BYTES


def test_garbage_is_an_error_and_the_connection_is_dropped():
    async def main():
        async with Backend(fixed(b"this is not HTTP\r\n\r\n")) as backend:
            pool = backend.pool
            with pytest.raises(UpstreamError, match="not HTTP/1.x"):
                await pool.request(backend.origin, head(), b"", timeout=5)
            backend.answer = fixed(OK)
            assert (await pool.request(backend.origin, head(), b"", timeout=5)).body == b"hello"
            return backend
    assert run(main()).connections == 2


def test_upgrade_answer_is_returned_and_the_connection_dropped():
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"

    async def main():
        async with Backend(fixed(upgrade)) as backend:
            pool = backend.pool
            r = await pool.request(backend.origin, head(), b"", timeout=5)
            backend.answer = fixed(OK)
            assert (await pool.request(backend.origin, head(), b"", timeout=5)).body == b"hello"
            return backend, r
    backend, r = run(main())
    assert (r.status, r.headers, r.body) == (101, [("Connection", "Upgrade"), ("Upgrade", "websocket")], b"")
    assert backend.connections == 2


def test_timeout_closes_the_connection():
    def answer(server, request):
        return None if len(server.requests) == 1 else OK

    async def main():
        async with Backend(answer) as backend:
            pool = backend.pool
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                await pool.request(backend.origin, head(), b"", timeout=0.2)
            elapsed = loop.time() - started
            assert (await pool.request(backend.origin, head(), b"", timeout=5)).body == b"hello"
            return backend, elapsed
    backend, elapsed = run(main())
    assert 0.15 < elapsed < 1.5 and backend.connections == 2


def test_cancellation_closes_the_connection():
    def answer(server, request):
        return None if len(server.requests) == 1 else OK

    async def main():
        async with Backend(answer) as backend:
            pool = backend.pool
            task = asyncio.ensure_future(pool.request(backend.origin, head(), b"", timeout=5))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await pool.request(backend.origin, head(), b"", timeout=5)).body == b"hello"
            return backend
    assert run(main()).connections == 2


def test_refused_connection_is_an_error():
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamError, match=f"cannot connect to 127.0.0.1:{port}"):
            await UpstreamPool().request(("http", "127.0.0.1", port), head(), b"", timeout=5)
    run(main())


def test_each_request_on_a_kept_alive_connection_has_its_own_deadline():
    """Deadlines longer and shorter than the previous request's, on one connection."""
    plan = []

    def answer(server, request):
        delay = plan.pop(0)
        if delay == 0:
            return OK
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, server.transports[-1].write, OK)
        return None  # delay < 0: silent

    async def timed(pool, backend, timeout):
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            r = await pool.request(backend.origin, head(), b"", timeout=timeout)
            return r.body, loop.time() - started
        except asyncio.TimeoutError:
            return "timeout", loop.time() - started

    async def main():
        async with Backend(answer) as backend:
            pool = backend.pool
            plan[:] = [0, 0.4, -1]
            fast = await timed(pool, backend, 0.2)
            slower = await timed(pool, backend, 2)  # answered after the first request's deadline
            silent = await timed(pool, backend, 0.6)  # times out at its own deadline, not earlier
            first = backend.connections
            plan[:] = [0, -1]
            await timed(pool, backend, 5)
            short = await timed(pool, backend, 0.2)  # a shorter deadline than the connection's last one
            return first, backend.connections, fast, slower, silent, short
    first, total, fast, slower, silent, short = run(main())
    assert first == 1 and total == 2 and not plan
    assert fast[0] == b"hello" and slower[0] == b"hello" and 0.35 < slower[1] < 1.5
    assert silent[0] == "timeout" and 0.55 < silent[1] < 1.5
    assert short[0] == "timeout" and 0.15 < short[1] < 1.0


def test_https_backend(tmp_path):
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    async def main():
        loop = asyncio.get_running_loop()
        backend = Backend(fixed(OK))
        server = await loop.create_server(lambda: Scripted(backend), "127.0.0.1", 0, ssl=server_ctx)
        origin = ("https", "127.0.0.1", server.sockets[0].getsockname()[1])
        pool = UpstreamPool()
        untrusted = UpstreamPool()
        with pytest.raises(UpstreamError, match="cannot connect"):  # the default context verifies
            await untrusted.request(origin, head(), b"", timeout=5)
        pool._ssl = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        bodies = [(await pool.request(origin, head(), b"", timeout=5)).body for _ in range(3)]
        pool.close()
        server.close()
        for transport in backend.transports:
            transport.close()
        await asyncio.sleep(0.05)
        return backend, bodies
    backend, bodies = run(main())
    assert bodies == [b"hello"] * 3 and backend.connections == 1
