"""Tests of the http backend: fast ones against a scripted stdlib server on 127.0.0.1, slow
ones against a real llama-cpp-python server running the embedded SmolLM2.

Run as: pytest tests/test_http.py -x -q        (add -m "not slow" to skip the real server)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from wizardlite.backends import CONTEXT, ERROR, LENGTH, STOP, GenRequest, GenResult, Sampling, user
from wizardlite.backends.http import HttpGenerator
from wizardlite.errors import BackendError
from wizardlite.recipe import BackendConfig

Reply = tuple[int, Any]  # (HTTP status, JSON body or raw text)


def completion(text: str, finish: str = "stop", prompt: int = 5, completion_tokens: int = 3) -> Reply:
    return 200, {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens},
    }


class Scripted:
    """A tiny OpenAI-compatible server whose replies come from `reply(body) -> (status, json)`.
    It records every request body and the highest number of requests in flight at once."""

    def __init__(self, reply: Callable[[dict[str, Any]], Reply], models: tuple[str, ...] = ("served-model",)):
        self.reply, self.models = reply, models
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.model_calls = 0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                raw = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                outer.model_calls += 1
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in outer.models]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.bodies.append(body)
                    outer.headers.append(dict(self.headers))
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    status, payload = outer.reply(body)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1
                self._send(status, payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that timed out hung up
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(reply: Callable[[dict[str, Any]], Reply], **kw: Any) -> Scripted:
        servers.append(Scripted(reply, **kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def dead_url() -> str:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def cfg(*urls: str, **kw: Any) -> BackendConfig:
    kw = {"model": "served-model", "parallel": 2, "retries": 2, "timeout_s": 5.0} | kw
    return BackendConfig(backend="http", endpoints=tuple(urls), **kw)


def reqs(n: int, **kw: Any) -> list[GenRequest]:
    return [GenRequest(user(f"prompt {i}"), seed=i, **kw) for i in range(n)]


def echo(body: dict[str, Any]) -> Reply:
    return completion("re: " + body["messages"][-1]["content"])


# ---------------------------------------------------------------------------- fast tests


def test_request_fields_and_result_mapping(serve):
    srv = serve(lambda body: completion("hello", finish="length", prompt=7, completion_tokens=4))
    gen = HttpGenerator(cfg(srv.url, api_key="sk-test"))
    sampling = Sampling(temperature=0.3, top_p=0.8, top_k=12, repeat_penalty=1.2, max_tokens=9)
    [res] = gen.generate([GenRequest(user("hi", system="be brief"), sampling, seed=42, grammar='root ::= "x"')])
    assert (res.text, res.finish_reason, res.prompt_tokens, res.completion_tokens) == ("hello", LENGTH, 7, 4)
    assert res.seconds > 0 and res.error == ""
    body = srv.bodies[0]
    assert body["model"] == "served-model" and body["messages"][0] == {"role": "system", "content": "be brief"}
    assert (body["temperature"], body["top_p"], body["top_k"], body["repeat_penalty"]) == (0.3, 0.8, 12, 1.2)
    assert (body["max_tokens"], body["seed"], body["grammar"]) == (9, 42, 'root ::= "x"')
    assert srv.headers[0]["Authorization"] == "Bearer sk-test"
    assert srv.model_calls == 0  # a served id in cfg.model is used as is
    assert gen.info.name == "served-model" and gen.info.backend == "http"
    gen.close()


def test_local_model_name_asks_the_server_for_its_id(serve):
    srv = serve(echo, models=("first-id", "second-id"))
    gen = HttpGenerator(cfg(srv.url + "/", model="smollm2"))  # embedded name: not a served id
    assert gen.info.name == "first-id" and srv.model_calls == 1
    [res] = gen.generate(reqs(1))
    assert res.finish_reason == STOP and srv.bodies[0]["model"] == "first-id" and "grammar" not in srv.bodies[0]


def test_results_in_request_order_with_concurrency(serve):
    def slow_echo(body: dict[str, Any]) -> Reply:
        time.sleep(0.05 * (3 - body["seed"] % 4))  # later requests finish first
        return echo(body)

    srv = serve(slow_echo)
    gen = HttpGenerator(cfg(srv.url, parallel=4))
    seen: list[int] = []
    results = gen.generate(reqs(12), on_result=lambda i, r: seen.append(i))
    assert [r.text for r in results] == [f"re: prompt {i}" for i in range(12)]
    assert sorted(seen) == list(range(12)) and seen != list(range(12))  # called as each finished
    assert 1 < srv.max_in_flight <= 4


def test_client_error_is_reported_per_request_without_retry(serve):
    def reply(body: dict[str, Any]) -> Reply:
        if body["seed"] == 1:
            return 400, {"error": {"message": "bad sampling value"}}
        if body["seed"] == 2:
            return 400, {"error": {"message": "the request exceeds the available context size"}}
        return echo(body)

    srv = serve(reply)
    results = HttpGenerator(cfg(srv.url)).generate(reqs(3))
    assert results[0].finish_reason == STOP
    assert results[1].finish_reason == ERROR and "bad sampling value" in results[1].error and "400" in results[1].error
    assert results[2].finish_reason == CONTEXT and results[2].text == ""
    assert len(srv.bodies) == 3  # a 4xx is final: nothing was sent twice


def test_503_is_retried_then_succeeds(serve):
    calls = {"n": 0}

    def reply(body: dict[str, Any]) -> Reply:
        calls["n"] += 1
        return (503, {"error": "loading model"}) if calls["n"] == 1 else echo(body)

    srv = serve(reply)
    [res] = HttpGenerator(cfg(srv.url), backoff_s=0.01).generate(reqs(1))
    assert res.finish_reason == STOP and res.text == "re: prompt 0" and len(srv.bodies) == 2


def test_persistent_500_gives_error_after_retries(serve):
    srv = serve(lambda body: (500, "internal trouble"))
    [res] = HttpGenerator(cfg(srv.url, retries=2), backoff_s=0.01).generate(reqs(1))
    assert res.finish_reason == ERROR and "internal trouble" in res.error
    assert len(srv.bodies) == 3  # the first try and two retries


def test_dead_endpoint_is_skipped(serve):
    srv = serve(echo)
    gen = HttpGenerator(cfg(dead_url(), srv.url, parallel=2), backoff_s=0.05)
    results = gen.generate(reqs(10))
    assert all(r.finish_reason == STOP for r in results)
    assert [r.text for r in results] == [f"re: prompt {i}" for i in range(10)]
    assert gen.summary()[srv.url] == 10


def test_work_is_spread_over_live_endpoints(serve):
    def slow(body: dict[str, Any]) -> Reply:
        time.sleep(0.03)
        return echo(body)

    a, b = serve(slow), serve(slow)
    gen = HttpGenerator(cfg(a.url, b.url, parallel=2))
    assert all(r.finish_reason == STOP for r in gen.generate(reqs(12)))
    assert len(a.bodies) > 0 and len(b.bodies) > 0 and len(a.bodies) + len(b.bodies) == 12


def test_all_endpoints_dead_raises_quickly():
    urls = (dead_url(), dead_url())
    gen = HttpGenerator(cfg(*urls, retries=2), backoff_s=0.01)
    t0 = time.monotonic()
    with pytest.raises(BackendError) as err:
        gen.generate(reqs(5))
    assert time.monotonic() - t0 < 3.0
    msg = str(err.value)
    assert all(u in msg for u in urls) and "curl" in msg and "running" in msg


def test_dead_fleet_at_startup_when_the_model_id_is_needed():
    url = dead_url()
    with pytest.raises(BackendError, match="curl"):
        HttpGenerator(cfg(url, model="smollm2", retries=1), backoff_s=0.01)


def test_timeout_counts_against_the_request_not_the_endpoint(serve):
    def reply(body: dict[str, Any]) -> Reply:
        if body["seed"] == 0:
            time.sleep(0.5)  # longer than timeout_s, every time
        return echo(body)

    srv = serve(reply)
    results = HttpGenerator(cfg(srv.url, timeout_s=0.2, retries=1), backoff_s=0.01).generate(reqs(3))
    assert results[0].finish_reason == ERROR and "timeout_s" in results[0].error
    assert [r.finish_reason for r in results[1:]] == [STOP, STOP]
    assert sum(b["seed"] == 0 for b in srv.bodies) == 2  # tried once, retried once


def test_empty_batch_sends_nothing(serve):
    srv = serve(echo)
    assert HttpGenerator(cfg(srv.url)).generate([]) == [] and srv.bodies == []


# ---------------------------------------------------------------------------- real server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'llama-cpp-python[server]'")
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python lacks its server: pip install 'llama-cpp-python[server]'")
    import httpx

    from wizardlite.models import resolve

    model = resolve("smollm2")
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1.0, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer /v1/models within 60 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def short(n: int, max_tokens: int) -> list[GenRequest]:
    sampling = Sampling(temperature=0.0, max_tokens=max_tokens)
    return [GenRequest(user(f"Name a colour. ({i})"), sampling, seed=i) for i in range(n)]


@pytest.mark.slow
def test_real_server_answers(llama_server):
    gen = HttpGenerator(BackendConfig(backend="http", endpoints=(llama_server,), model="smollm2", parallel=2))
    assert gen.info.name  # the id the server reports for the GGUF
    done: list[int] = []
    results = gen.generate(short(3, 16), on_result=lambda i, r: done.append(i))
    assert sorted(done) == [0, 1, 2]
    for r in results:
        assert r.finish_reason in (STOP, LENGTH) and r.error == ""
        assert r.text.strip() and r.prompt_tokens > 0 and 0 < r.completion_tokens <= 16
    gen.close()


@pytest.mark.slow
def test_real_server_length_limit(llama_server):
    gen = HttpGenerator(BackendConfig(backend="http", endpoints=(llama_server,), parallel=1))
    sampling = Sampling(temperature=0.0, max_tokens=4)
    [res] = gen.generate([GenRequest(user("Write a long story about a dragon and a castle."), sampling)])
    assert res.finish_reason == LENGTH and res.completion_tokens == 4


@pytest.mark.slow
def test_real_server_with_a_dead_peer(llama_server):
    dead = dead_url()
    gen = HttpGenerator(BackendConfig(backend="http", endpoints=(dead, llama_server), parallel=2), backoff_s=0.05)
    results = gen.generate(short(4, 8))
    assert all(isinstance(r, GenResult) and r.error == "" and r.text for r in results)
    assert gen.summary() == {dead: 0, llama_server: 4}


@pytest.mark.slow
def test_real_fleet_all_dead_raises(llama_server):
    # The live server is not in this fleet; it only proves the dead-fleet path is quick even
    # when a real server runs on the machine.
    gen = HttpGenerator(BackendConfig(backend="http", endpoints=(dead_url(), dead_url()), model="any",
                                      retries=1, timeout_s=1.0), backoff_s=0.01)
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="127.0.0.1"):
        gen.generate(short(2, 4))
    assert time.monotonic() - t0 < 5.0


def test_parallel_zero_means_the_suggested_number_in_flight():
    from wizardlite.backends.hardware import HTTP_IN_FLIGHT

    gen = HttpGenerator(cfg(dead_url(), parallel=0))  # model named: nothing is asked of the endpoint
    assert gen.cfg.parallel == HTTP_IN_FLIGHT
