"""End to end: HTTP API CORS answered by the gateway, and REST's error-response pitfall."""

import requests

from helpers import openapi, proxy_op, write_project

HANDLER = ("def handler(event, context):\n"
           "    return {'statusCode': 200, 'headers': {'Access-Control-Allow-Origin': 'https://evil.example'}, 'body': 'ok'}\n")
CORS = {"allowOrigins": ["https://app.example"], "allowMethods": ["GET", "POST"], "allowHeaders": ["authorization"],
        "exposeHeaders": ["x-total"], "maxAge": 600, "allowCredentials": True}


def http_api(tmp_path):
    doc = openapi({"/items": {"get": proxy_op("fn", payloadFormatVersion="2.0")}},
                  **{"x-amazon-apigateway-cors": CORS, "x-amazon-apigateway-importexport-version": "1.0"})
    return write_project(tmp_path, doc, config={"apis": [{"id": "c", "openapi": "openapi.yaml"}],
                                                "functions": {"fn": "h.py:handler"}}, files={"h.py": HANDLER})


def test_http_api_preflight_and_response_headers(serve, tmp_path):
    server = serve(http_api(tmp_path))
    r = requests.options(f"{server.url}/items", headers={"Origin": "https://app.example",
                                                         "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-methods"] == "GET,POST" and r.headers["access-control-max-age"] == "600"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = requests.get(f"{server.url}/items", headers={"Origin": "https://app.example"})
    # The integration's own CORS header is replaced by the configured one.
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-expose-headers"] == "x-total"
    r = requests.get(f"{server.url}/items", headers={"Origin": "https://other.example"})
    assert "access-control-allow-origin" not in r.headers
    r = requests.get(f"{server.url}/nothing", headers={"Origin": "https://app.example"})
    assert r.status_code == 404 and r.headers["access-control-allow-origin"] == "https://app.example"


def rest_api(tmp_path, cors_on_errors):
    doc = openapi({"/items": {"get": proxy_op("fn")}})
    api = {"id": "r", "openapi": "openapi.yaml", "cors_on_errors": cors_on_errors}
    return write_project(tmp_path, doc, config={"apis": [api], "functions": {"fn": "h.py:handler"}}, files={"h.py": HANDLER})


def test_rest_error_responses_lack_cors_headers_unless_switched_on(serve, tmp_path):
    plain = serve(rest_api(tmp_path / "a", False))
    r = requests.get(f"{plain.url}/prod/nothing", headers={"Origin": "https://app.example"})
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers  # AWS's pitfall
    fixed = serve(rest_api(tmp_path / "b", True))
    r = requests.get(f"{fixed.url}/prod/nothing", headers={"Origin": "https://app.example"})
    assert r.status_code == 403 and r.headers["Access-Control-Allow-Origin"] == "*"
