"""The `http` backend: chat completions from one or more OpenAI-compatible servers.

A fleet is a list of base URLs (llama-server, llama-cpp-python's server, vLLM, Ollama's /v1).
Each endpoint gets `parallel` worker threads, and all workers pull from one queue, so a fast
endpoint takes more of the work and a dead one simply stops taking any. A dead endpoint
(connection refused, connect timeout) cools down with exponential backoff and is probed again with a
single request; when every endpoint has failed more than `retries` times in a row, the batch
stops with a BackendError that names the URLs.

Run as: wizardlite evolve --endpoint http://127.0.0.1:8080/v1 --endpoint http://127.0.0.1:8081/v1
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardlite.backends.base import (
    CONTEXT,
    ERROR,
    LENGTH,
    STOP,
    Callback,
    Feed,
    GenRequest,
    GenResult,
    ModelIdentity,
    ModelInfo,
    collect,
)
from wizardlite.backends.hardware import HTTP_IN_FLIGHT
from wizardlite.errors import BackendError, ConfigError, WizardliteError
from wizardlite.models import available
from wizardlite.recipe import BackendConfig

MAX_COOLDOWN_S = 30.0  # a dead endpoint is probed at least this often, so a restarted server rejoins
CONNECT_TIMEOUT_S = 10.0  # a machine that is off answers nothing; do not wait timeout_s to learn it

# Phrases servers use when the prompt does not fit the context window (llama-server,
# llama-cpp-python, vLLM). Such a 400 is the CONTEXT outcome, not a broken request.
_CONTEXT_PHRASES = ("context size", "context window", "context length", "exceed_context")


@dataclass
class _Endpoint:
    url: str
    fails: int = 0  # consecutive failures to reach it; 0 = live
    until: float = 0.0  # cooling down until this monotonic time
    probing: bool = False  # one request is testing whether it came back
    last_error: str = ""
    served: int = 0  # requests answered (any HTTP status), for the summary


@dataclass
class _Job:
    index: int
    attempts: int = 0  # failures counted against this request
    not_before: float = 0.0


@dataclass
class _Batch:
    """The shared state of one serve() call; every field is guarded by `cond`."""

    requests: dict[int, GenRequest]
    pending: list[_Job]
    done: queue.Queue[tuple[int, GenResult | None]] = field(default_factory=queue.Queue)
    cond: threading.Condition = field(default_factory=threading.Condition)
    stop: bool = False
    fatal: str = ""

    def take(self, now: float) -> tuple[_Job | None, float | None]:
        """The first job ready to send, or None and how long until one is (None: unknown)."""
        soonest = None
        for k, job in enumerate(self.pending):
            if job.not_before <= now:
                return self.pending.pop(k), None
            soonest = min(soonest or job.not_before, job.not_before)
        return None, (soonest - now if soonest is not None else None)


class HttpGenerator:
    def __init__(self, cfg: BackendConfig, backoff_s: float = 0.5):
        import httpx

        if not cfg.endpoints:
            raise ConfigError("the http backend needs at least one endpoint: pass --endpoint http://127.0.0.1:8080/v1")
        for url in cfg.endpoints:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"endpoint '{url}' must start with http:// or https://, e.g. http://127.0.0.1:8080/v1")
        if not cfg.parallel:  # 0 = the suggested number in flight per endpoint
            cfg = dataclasses.replace(cfg, parallel=HTTP_IN_FLIGHT)
        self.cfg = cfg
        self.backoff_s = backoff_s
        self.endpoints = [_Endpoint(u.rstrip("/")) for u in cfg.endpoints]
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        n = self.capacity = cfg.parallel * len(self.endpoints)
        # trust_env=False: a fleet lives on loopback or the LAN, and a system-wide HTTP_PROXY
        # would send those requests to a proxy that cannot reach them.
        self._client = httpx.Client(
            headers=headers, trust_env=False,
            timeout=httpx.Timeout(cfg.timeout_s, connect=min(cfg.timeout_s, CONNECT_TIMEOUT_S)),
            limits=httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4),
        )
        self.model_id = cfg.model if cfg.model and not _is_local_model(cfg.model) else self._served_model()
        self.info = ModelInfo(name=self.model_id, sha256="", backend="http")

    # ------------------------------------------------------------------ setup

    def _served_model(self) -> str:
        """The first model id the fleet serves (GET {base}/models), with the usual retries."""
        import httpx

        errors: dict[str, str] = {}
        for attempt in range(self.cfg.retries + 1):
            for ep in self.endpoints:
                try:
                    r = self._client.get(f"{ep.url}/models")
                    r.raise_for_status()
                    ids = [m["id"] for m in r.json()["data"]]
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
                    errors[ep.url] = _describe(e)
                    continue
                if ids:
                    return str(ids[0])
                errors[ep.url] = "it lists no models"
            if attempt < self.cfg.retries:
                time.sleep(self.backoff_s * 2**attempt)
        raise BackendError(_dead_fleet_message(errors, "asking which model they serve"))

    # ------------------------------------------------------------------ generate

    def generate(self, requests: Sequence[GenRequest], on_result: Callback | None = None) -> list[GenResult]:
        return collect(self, requests, on_result)

    def serve(self, feed: Feed, on_result: Callback) -> None:
        batch = _Batch({}, [])
        with batch.cond:  # a probe left in flight by an interrupted batch must not block this one
            for ep in self.endpoints:
                ep.probing = False
        unlisten = feed.listen(lambda: batch.done.put((-2, None)))  # wakes the loop below
        for ep in self.endpoints:
            for _ in range(self.cfg.parallel):
                # daemon: on Ctrl-C the caller must not wait for requests still in flight
                threading.Thread(target=self._worker, args=(ep, batch), daemon=True).start()
        outstanding = 0
        try:
            while True:
                if new := feed.take():
                    with batch.cond:
                        for i, req in new:
                            batch.requests[i] = req
                            batch.pending.append(_Job(i))
                        batch.cond.notify_all()
                    outstanding += len(new)
                if not outstanding and feed.drained:
                    return
                i, res = batch.done.get()
                if i == -2:
                    continue
                if res is None:
                    raise BackendError(batch.fatal)
                outstanding -= 1
                del batch.requests[i]
                on_result(i, res)
        finally:
            unlisten()
            with batch.cond:
                batch.stop = True
                batch.cond.notify_all()

    def _worker(self, ep: _Endpoint, batch: _Batch) -> None:
        try:
            while (got := self._next_job(ep, batch)) is not None:
                job, probe = got
                kind, payload = self._send(ep, batch.requests[job.index])
                self._settle(ep, batch, job, probe, kind, payload)
        except Exception as e:  # a bug here must end the batch, not hang it
            with batch.cond:
                batch.fatal = batch.fatal or f"http backend worker for {ep.url} crashed: {_describe(e)}"
                batch.stop = True
                batch.cond.notify_all()
            batch.done.put((-1, None))

    def _next_job(self, ep: _Endpoint, batch: _Batch) -> tuple[_Job, bool] | None:
        """Block until this endpoint may send and a job is ready; None when the batch is over.
        The bool says the job is the single probe of an endpoint that was down."""
        with batch.cond:
            while not batch.stop:
                now = time.monotonic()
                if ep.fails and (ep.probing or now < ep.until):
                    wait: float | None = None if ep.probing else ep.until - now
                else:
                    job, wait = batch.take(now)
                    if job is not None:
                        ep.probing = ep.fails > 0
                        return job, ep.probing
                batch.cond.wait(wait)
        return None

    def _send(self, ep: _Endpoint, req: GenRequest) -> tuple[str, Any]:
        """POST one request. Returns (kind, payload): ("ok", GenResult) for an answer or a
        final error; ("retry", text) to try the request again later; ("down", text) when the
        endpoint is unreachable; ("timeout", text) when it took longer than timeout_s.

        A read timeout counts against the request, not the endpoint: the server accepted the
        connection, and one over-long request must not make a healthy fleet look dead."""
        import httpx

        start = time.monotonic()
        try:
            r = self._client.post(f"{ep.url}/chat/completions", json=self._body(req))
        except (httpx.ReadTimeout, httpx.WriteTimeout) as e:
            return "timeout", f"no reply from {ep.url} within timeout_s={self.cfg.timeout_s}s ({_describe(e)})"
        except httpx.TransportError as e:
            return "down", _describe(e)
        seconds = time.monotonic() - start
        if r.status_code == 429 or r.status_code >= 500:
            return "retry", f"{ep.url} answered HTTP {r.status_code}: {r.text[:300]}"
        if r.status_code >= 400:
            text = r.text[:500]
            reason = CONTEXT if r.status_code == 400 and any(p in text.lower() for p in _CONTEXT_PHRASES) else ERROR
            return "ok", GenResult("", reason, seconds=seconds, error=f"HTTP {r.status_code} from {ep.url}: {text}")
        try:
            data = r.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
            return "retry", f"{ep.url} sent a reply that is not a chat completion ({_describe(e)}): {r.text[:200]}"
        return "ok", GenResult(
            text=text,
            finish_reason=LENGTH if choice.get("finish_reason") == "length" else STOP,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=seconds,
        )

    def _body(self, req: GenRequest) -> dict[str, Any]:
        s = req.sampling
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": list(req.messages),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "seed": req.seed,
            "stream": False,
            # Not OpenAI fields: llama.cpp servers read them, vLLM reads top_k, Ollama ignores both.
            "top_k": s.top_k,
            "repeat_penalty": s.repeat_penalty,
        }
        if req.grammar:
            body["grammar"] = req.grammar  # llama.cpp servers only; see docs/fleet.md
        return body

    def _settle(self, ep: _Endpoint, batch: _Batch, job: _Job, probe: bool, kind: str, payload: Any) -> None:
        """Record what one attempt gave: a result, a later retry, or a dead endpoint."""
        with batch.cond:
            now = time.monotonic()
            ep.probing = False
            if kind in ("ok", "retry"):  # the server answered, so it is alive
                ep.fails, ep.served = 0, ep.served + 1
            elif kind == "down":
                # Requests already in flight when the endpoint went down fail too; only the
                # first failure and each probe count, so `retries` means probes, not requests.
                if probe or ep.fails == 0:
                    ep.fails += 1
                    ep.until = now + min(MAX_COOLDOWN_S, self.backoff_s * 2 ** (ep.fails - 1))
                ep.last_error = payload
                if all(e.fails > self.cfg.retries for e in self.endpoints) and not batch.fatal:
                    batch.fatal = _dead_fleet_message({e.url: e.last_error for e in self.endpoints}, "generating")
                    batch.stop = True
                    batch.done.put((-1, None))
            if kind == "ok":
                batch.done.put((job.index, payload))
            elif kind == "down":
                batch.pending.append(job)  # not the request's fault: another endpoint takes it
            else:  # retry or timeout: counted against the request
                job.attempts += 1
                if job.attempts > self.cfg.retries:
                    msg = f"gave up after {job.attempts} attempts: {payload}"
                    batch.done.put((job.index, GenResult("", ERROR, error=msg)))
                else:
                    job.not_before = now + self.backoff_s * 2 ** (job.attempts - 1)
                    batch.pending.append(job)
            batch.cond.notify_all()

    def close(self) -> None:
        self._client.close()

    def summary(self) -> dict[str, int]:
        """Requests each endpoint answered since this generator was made."""
        return {ep.url: ep.served for ep in self.endpoints}


def _is_local_model(name: str) -> bool:
    """True when `model` names a local file or an embedded model rather than a served id, so
    the id must be asked from the server."""
    if name.endswith(".gguf") or Path(name).expanduser().exists():
        return True
    try:
        return name.lower() in {e.name.lower() for e in available()}
    except WizardliteError:  # a broken manifest must not stop a run that does not use it
        return False


def _describe(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _dead_fleet_message(errors: dict[str, str], doing: str) -> str:
    urls = ", ".join(errors)
    detail = "; ".join(f"{u} -> {m}" for u, m in errors.items())
    first = next(iter(errors))
    return (
        f"no endpoint answered while {doing} ({urls}): {detail}. Is llama-server (or vLLM/Ollama) running "
        f"there? Check with `curl {first}/models`; the URL must include /v1 (raise timeout_s/retries "
        "for slow servers)"
    )


# ---------------------------------------------------------------------------- registry entry


def load(cfg: BackendConfig) -> HttpGenerator:
    return HttpGenerator(cfg)


def identity(cfg: BackendConfig) -> ModelIdentity:
    return ModelIdentity("http", cfg.model, endpoints=tuple(sorted(cfg.endpoints)))


def check(cfg: BackendConfig, where: str) -> list[str]:
    if not cfg.endpoints:
        return [f"{where}.endpoints: the http backend needs at least one URL (or pass --endpoint)"]
    return []
