"""The gateway's compiled state: one integration handler per distinct integration of an API."""

from helpers import openapi, write_project
from lychgate.config.project import load_project
from lychgate.pipeline.runtime import Gateway


def http_op(uri: str, **extra) -> dict:
    return {"get": {"x-amazon-apigateway-integration": {
        "type": "http_proxy", "httpMethod": "GET", "uri": uri,
        "requestParameters": {"integration.request.path.id": "method.request.path.id"}, **extra}}}


def handlers_by_path(tmp_path, paths: dict, apis: int = 1) -> list[dict]:
    config = {"apis": [{"id": f"api{n}", "openapi": "openapi.yaml", "stages": {"prod": {}}} for n in range(apis)]}
    gateway = Gateway(load_project(write_project(tmp_path, openapi(paths), config=config)), access_log=False)
    gateway.close()
    return [{m.resource_path: runtime.handlers[id(m)] for m in runtime.api.methods}
            for runtime in gateway.apis.values()]


def test_methods_with_equal_integrations_share_one_handler(tmp_path):
    uri = "http://127.0.0.1:9/items/{id}"
    [handlers] = handlers_by_path(tmp_path, {"/a/{id}": http_op(uri), "/b/{id}": http_op(uri),
                                             "/c/{id}": http_op(uri, timeoutInMillis=5000),
                                             "/d/{id}": http_op("http://127.0.0.1:9/other/{id}")})
    assert handlers["/a/{id}"] is handlers["/b/{id}"]
    assert handlers["/c/{id}"] is not handlers["/a/{id}"]  # any other field differs: a handler of its own
    assert handlers["/d/{id}"] is not handlers["/a/{id}"]
    assert handlers["/a/{id}"].config.uri == uri and handlers["/d/{id}"].config.uri.endswith("/other/{id}")


def test_apis_do_not_share_handlers(tmp_path):
    # A handler caches its URI per stage name, expanded with its own API's stage variables.
    first, second = handlers_by_path(tmp_path, {"/a/{id}": http_op("http://127.0.0.1:9/{id}")}, apis=2)
    assert first["/a/{id}"] is not second["/a/{id}"]
