"""SIGHUP: a good configuration replaces the running one with no failed request; a bad one is refused."""

import signal
import threading
import time

import requests
import yaml

from helpers import openapi, proxy_op, write_project

HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': event['resource']}\n"


def test_reload_under_load(serve, tmp_path):
    project = write_project(tmp_path, openapi({"/a": {"get": proxy_op("fn")}}),
                            config={"apis": [{"id": "r", "openapi": "openapi.yaml",
                                              "stages": {"prod": {"access_log": False}}}],
                                    "functions": {"fn": "h.py:handler"}}, files={"h.py": HANDLER})
    server = serve(project)
    statuses, stop = [], threading.Event()

    def hammer():
        with requests.Session() as session:
            while not stop.is_set():
                statuses.append(session.get(f"{server.url}/prod/a").status_code)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.3)
        assert requests.get(f"{server.url}/prod/b").status_code == 403
        (tmp_path / "openapi.yaml").write_text(yaml.safe_dump(openapi({"/a": {"get": proxy_op("fn")},
                                                                      "/b": {"get": proxy_op("fn")}})))
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while requests.get(f"{server.url}/prod/b").status_code != 200:
            assert time.monotonic() < deadline, "the reload never took effect"
            time.sleep(0.1)
        (tmp_path / "openapi.yaml").write_text("paths: [broken")
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert requests.get(f"{server.url}/prod/b").text == "/b"  # the bad file changed nothing
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert len(statuses) > 50 and set(statuses) == {200}
    _, _, err = server.stop()
    assert "reload rejected, still serving the previous configuration" in err and "invalid YAML" in err


def test_watch_reloads_on_file_change(serve, tmp_path):
    project = write_project(tmp_path, openapi({"/a": {"get": proxy_op("fn")}}),
                            config={"apis": [{"id": "r", "openapi": "openapi.yaml",
                                              "stages": {"prod": {"access_log": False}}}],
                                    "functions": {"fn": "h.py:handler"}}, files={"h.py": HANDLER})
    server = serve(project, "--watch")
    assert requests.get(f"{server.url}/prod/b").status_code == 403
    (tmp_path / "openapi.yaml").write_text(yaml.safe_dump(openapi({"/a": {"get": proxy_op("fn")},
                                                                  "/b": {"get": proxy_op("fn")}})))
    deadline = time.monotonic() + 10
    while requests.get(f"{server.url}/prod/b").status_code != 200:
        assert time.monotonic() < deadline, "the change was never picked up"
        time.sleep(0.2)
    (tmp_path / "openapi.yaml").write_text("paths: [broken")
    time.sleep(3.5)  # two polls to see the change settle, then the (refused) reload
    assert requests.get(f"{server.url}/prod/b").text == "/b"
    _, _, err = server.stop()
    assert "files changed under" in err and "reload rejected, still serving the previous configuration" in err
