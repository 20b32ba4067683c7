"""Continuous batching over one llama.cpp context: the decode loop behind LlamaCppGenerator.

Up to `n_slots` sequences live in one context, each under its own sequence id (its slot),
with its own sampler and stop rules. Every step decodes the next token of every live
sequence in a single `llama_decode` call, so the weights are read from memory once per step
instead of once per sequence. A sequence that finishes frees its slot and the next waiting
request takes it at once (continuous batching), so a long answer does not hold up the rest.

Each slot has a KV stream of its own (kv_unified off), so a sequence's cells sit at the same
places whatever else is in the batch or was in the slot before: batched greedy decoding gives
the same tokens as one-at-a-time decoding, bit for bit (tests/test_llamacpp.py checks it).

Shared prompt prefixes (the fixed text of an evolution prompt, the chat template's system
turn) are evaluated once: after the first sequence that needs a prefix has read it, the
slot's KV state is copied to host memory (`llama_state_seq_get_data`); a later prompt
starting with it gets it back (`llama_state_seq_set_data`, then trimmed to the shared length)
and only its own tail is evaluated. Restored cells are the same values in the same places
as evaluated ones, so prefix reuse does not change outputs either.

Run as: python benchmarks/bench_generate.py   (driven by wizardlite/backends/llamacpp.py)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from wizardlite.backends.base import CONTEXT, ERROR, LENGTH, STOP, GenResult, Sampling

MIN_PREFIX = 16  # shorter shared prefixes are not worth a sequence id of their own
# Every piece of a prompt evaluated on its own is at least this long: llama.cpp's CPU kernels
# take another path for a single query row, whose rounding differs, so a prompt read as
# [prefix][1 token] would not give the same logits as the prompt read whole.
MIN_PIECE = 2
PENALTY_LAST_N = 64  # tokens the repeat penalty looks back over (llama.cpp's default)


@dataclass
class Job:
    """One request once its chat prompt is tokenized."""

    index: int
    tokens: list[int]
    sampling: Sampling
    seed: int = 0
    grammar: str | None = None


@dataclass
class _Live:
    job: Job
    slot: int
    sampler: Any  # llama_sampler_p, freed when the sequence ends
    n_past: int = 0  # tokens of this sequence already in the KV cache
    out: list[int] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixStore:
    """KV snapshots of shared prompt prefixes, in host memory, keyed by their tokens; the least
    recently used goes first when `max_entries` are held."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self.held: dict[tuple[int, ...], Any] = {}  # tokens -> ctypes byte array
        self.last_use: dict[tuple[int, ...], int] = {}
        self._tick = 0

    def best(self, tokens: Sequence[int]) -> tuple[tuple[int, ...] | None, int]:
        """The held prefix sharing most tokens with `tokens`, and how many it shares."""
        best, best_len = None, 0
        for key in self.held:
            n = common_prefix(key, tokens)
            if n > best_len:
                best, best_len = key, n
        if best is not None:
            self._touch(best)
        return best, best_len

    def add(self, tokens: Sequence[int], blob: Any) -> None:
        while len(self.held) >= self.max_entries:
            oldest = min(self.held, key=lambda k: self.last_use[k])
            del self.held[oldest], self.last_use[oldest]
        key = tuple(tokens)
        self.held[key] = blob
        self._touch(key)

    def nbytes(self) -> int:
        return sum(len(b) for b in self.held.values())

    def _touch(self, key: tuple[int, ...]) -> None:
        self._tick += 1
        self.last_use[key] = self._tick


class BatchEngine:
    """Owns the decode loop of one llama.cpp context. `lc` is the llama_cpp module."""

    def __init__(self, lc: Any, ctx: Any, vocab: Any, *, n_slots: int, n_ctx: int, n_batch: int,
                 stop_ids: set[int], max_prefixes: int = 0):
        self.lc, self.ctx, self.vocab = lc, ctx, vocab
        self.mem = lc.llama_get_memory(ctx)
        self.n_slots, self.n_ctx, self.n_batch = n_slots, n_ctx, n_batch
        self.n_vocab = lc.llama_vocab_n_tokens(vocab)
        self.stop_ids = stop_ids
        self.cache = PrefixStore(max_prefixes) if max_prefixes else None
        self.batch = lc.llama_batch_init(n_batch, 0, 1)
        self.stats = {"prompt_tokens_total": 0, "prompt_tokens_evaluated": 0, "completion_tokens": 0,
                      "prompt_seconds": 0.0, "decode_seconds": 0.0, "decode_steps": 0, "decode_tokens": 0, "slot_moves": 0}

    # ------------------------------------------------------------------ the loop

    def run(self, pull: Callable[[bool], list[Job] | None], finish: Callable[[int, GenResult], None]) -> None:
        """Generate for every job that `pull` hands over, calling `finish(index, result)` as each
        one ends. `pull(block)` returns the jobs that arrived since it was last called (waiting
        for some when `block`), or None once no more will come; `finish` may make more arrive."""
        want: dict[int, int] = {}
        waiting: deque[Job] = deque()
        live: dict[int, _Live] = {}
        more = True
        try:
            while True:
                if more:
                    got = pull(not waiting and not live)
                    if got is None:
                        more = False
                    elif got:
                        waiting.extend(got)
                        want.update(self._plan(list(waiting)))
                if not (waiting or live):
                    if more:
                        continue
                    return
                admitted = []
                free = [s for s in range(self.n_slots) if s not in live]
                while free and waiting:
                    job = waiting.popleft()
                    self.stats["prompt_tokens_total"] += len(job.tokens)
                    if len(job.tokens) + 1 > self.n_ctx:
                        finish(job.index, GenResult("", CONTEXT, len(job.tokens), 0, 0.0,
                                                    f"prompt has {len(job.tokens)} tokens; n_ctx is {self.n_ctx}"))
                        continue
                    lv = self._start(job, free.pop(0), want.pop(job.index, 0), finish)
                    if lv is not None:
                        live[lv.slot] = lv
                        admitted.append(lv)
                if admitted:
                    t = time.perf_counter()
                    for lv, token in self._eval_prompts(admitted):
                        self._take(lv, token, live, finish)
                    self.stats["prompt_seconds"] += time.perf_counter() - t
                if live:
                    t = time.perf_counter()
                    if not waiting:
                        self._compact(live)
                    self._step(live, finish)
                    self.stats["decode_seconds"] += time.perf_counter() - t
        finally:
            for lv in live.values():  # only left over when `finish` or llama_decode raised
                self._release(lv)

    def _plan(self, jobs: Sequence[Job]) -> dict[int, int]:
        """For each job, the length of the longest token prefix it shares with another waiting
        job: neighbours in sorted order share the most."""
        if self.cache is None:
            return {}
        order = sorted(jobs, key=lambda j: j.tokens)
        want: dict[int, int] = {}
        for a, b in pairwise(order):
            n = common_prefix(a.tokens, b.tokens)
            for j in (a, b):
                want[j.index] = max(want.get(j.index, 0), min(n, len(j.tokens) - MIN_PIECE))
        return want

    def _start(self, job: Job, slot: int, want: int, finish: Callable[[int, GenResult], None]) -> _Live | None:
        """Claim a slot for `job`: its sampler, and the KV of any shared prefix already known."""
        sampler = self._sampler(job)
        if sampler is None:
            finish(job.index, GenResult("", ERROR, len(job.tokens), 0, 0.0,
                                        "the grammar does not parse as GBNF (llama.cpp rejected it)"))
            return None
        self.lc.llama_memory_seq_rm(self.mem, slot, -1, -1)
        lv = _Live(job, slot, sampler)
        if self.cache is None:
            return lv
        t = time.perf_counter()
        key, n = self.cache.best(job.tokens)
        n = min(n, len(job.tokens) - MIN_PIECE)  # the tail is evaluated, and gives the logits
        if key is not None and n > 0:
            if self.lc.llama_state_seq_set_data(self.ctx, self.cache.held[key], len(self.cache.held[key]), slot):
                self.lc.llama_memory_seq_rm(self.mem, slot, n, -1)
                lv.n_past = n
            else:  # cannot happen with a snapshot of this context; evaluate it all instead
                self.lc.llama_memory_seq_rm(self.mem, slot, -1, -1)
        if want >= MIN_PREFIX and want - lv.n_past >= MIN_PIECE:
            # This prompt opens a prefix that others in the call share: read it, keep a snapshot.
            toks = job.tokens
            self._decode_tokens([(slot, toks[p], p, False) for p in range(lv.n_past, want)])
            lv.n_past = want
            self.cache.add(toks[:want], self._snapshot(slot))
        self.stats["prompt_seconds"] += time.perf_counter() - t
        return lv

    def _snapshot(self, seq: int) -> Any:
        import ctypes

        size = self.lc.llama_state_seq_get_size(self.ctx, seq)
        buf = (ctypes.c_uint8 * size)()
        n = self.lc.llama_state_seq_get_data(self.ctx, buf, size, seq)
        return buf if n == size else (ctypes.c_uint8 * n).from_buffer_copy(bytes(buf)[:n])

    def _eval_prompts(self, admitted: list[_Live]) -> list[tuple[_Live, int]]:
        """Evaluate the unshared part of each admitted prompt and sample its first token from the
        logits of its last prompt token. One sequence per llama_decode call: with one KV stream
        per sequence, llama.cpp would otherwise cut each prompt at the lengths of the others."""
        firsts: list[tuple[_Live, int]] = []
        for lv in admitted:
            toks = lv.job.tokens
            items = [(lv.slot, toks[p], p, p == len(toks) - 1) for p in range(lv.n_past, len(toks))]
            lv.n_past = len(toks)
            last = self._decode_tokens(items)
            firsts.append((lv, self._sample(lv, last)))  # before the next decode overwrites the logits
        return firsts

    def _step(self, live: dict[int, _Live], finish: Callable[[int, GenResult], None]) -> None:
        """Decode one token for every live sequence, in slot order: with one KV stream per slot,
        llama.cpp splits a batch wherever the sequence ids are not in increasing consecutive
        order, and each piece is a decode of its own (8 sequences out of order decoded at 103
        tok/s instead of 172, measured on SmolLM2 Q4_1, 2 CPU threads)."""
        seqs = sorted(live.values(), key=lambda lv: lv.slot)
        b = self.batch
        for i, lv in enumerate(seqs):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = lv.out[-1], lv.n_past, 1, 1
            b.seq_id[i][0] = lv.slot
        b.n_tokens = len(seqs)
        self._decode()
        self.stats["decode_steps"] += 1
        self.stats["decode_tokens"] += len(seqs)  # tokens sampled from this step's logits
        for i, lv in enumerate(seqs):
            lv.n_past += 1
            self._take(lv, self._sample(lv, i), live, finish)

    def _compact(self, live: dict[int, _Live]) -> None:
        """Close the holes left by finished sequences once nothing waits to fill them: the
        sequence in the highest slot moves into the lowest free one (its KV stream copied
        whole), until the live slots are consecutive. A batch over slots 0,2,4,6 decodes as
        four batches of one (39 ms a step against 26 ms for 0,1,2,3, SmolLM2 Q4_1)."""
        while live:
            slots = sorted(live)
            holes = [s for s in range(slots[0], slots[-1]) if s not in live]
            if not holes:
                return
            src, dst = slots[-1], holes[0]
            lv = live.pop(src)
            self.lc.llama_memory_seq_rm(self.mem, dst, -1, -1)
            self.lc.llama_memory_seq_cp(self.mem, src, dst, -1, -1)
            self.lc.llama_memory_seq_rm(self.mem, src, -1, -1)
            lv.slot = dst
            live[dst] = lv
            self.stats["slot_moves"] += 1

    def _take(self, lv: _Live, token: int, live: dict[int, _Live], finish: Callable[[int, GenResult], None]) -> None:
        """Append a sampled token, or end the sequence: end-of-generation token -> STOP,
        max_tokens or a full context -> LENGTH."""
        reason = None
        if token in self.stop_ids or self.lc.llama_vocab_is_eog(self.vocab, token):
            reason = STOP
        else:
            lv.out.append(token)
            self.stats["completion_tokens"] += 1
            if len(lv.out) >= lv.job.sampling.max_tokens or lv.n_past + 1 > self.n_ctx:
                reason = LENGTH
        if reason is None:
            return
        del live[lv.slot]
        self._release(lv)
        finish(lv.job.index, GenResult(self.detokenize(lv.out), reason, len(lv.job.tokens), len(lv.out),
                                       time.perf_counter() - lv.t0))

    def _release(self, lv: _Live) -> None:
        self.lc.llama_sampler_free(lv.sampler)
        self.lc.llama_memory_seq_rm(self.mem, lv.slot, -1, -1)

    # ------------------------------------------------------------------ llama.cpp calls

    def _decode_tokens(self, items: list[tuple[int, int, int, bool]]) -> int:
        """Decode (seq, token, pos, want_logits) items of one sequence in chunks of n_batch, none
        of them a single token; return the batch index of the last item in its chunk."""
        b = self.batch
        starts = list(range(0, len(items), self.n_batch))
        if len(items) > 1 and len(items) - starts[-1] < MIN_PIECE:
            starts[-1] -= MIN_PIECE - (len(items) - starts[-1])
        for start, end in zip(starts, [*starts[1:], len(items)], strict=True):
            chunk = items[start:end]
            for i, (seq, tok, pos, want) in enumerate(chunk):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, int(want)
                b.seq_id[i][0] = seq
            b.n_tokens = len(chunk)
            self._decode()
            self.stats["prompt_tokens_evaluated"] += len(chunk)
        return len(items) - 1 - starts[-1]

    def _decode(self) -> None:
        from wizardlite.errors import BackendError

        rc = self.lc.llama_decode(self.ctx, self.batch)
        if rc != 0:
            # 1 = no room in the KV cache: the sizes in LlamaCppGenerator should make that impossible
            raise BackendError(f"llama_decode failed (code {rc}) with {self.batch.n_tokens} tokens in the batch: "
                               "lower parallel or n_ctx, or turn prefix_cache off")

    def _sampler(self, job: Job) -> Any:
        """A sampler chain of its own for each sequence, seeded from the request, so that its
        draws do not depend on what else shares the batch. Greedy when temperature is 0."""
        lc, s = self.lc, job.sampling
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if job.grammar:
            g = lc.llama_sampler_init_grammar(self.vocab, job.grammar.encode(), b"root")
            if not g:
                lc.llama_sampler_free(chain)
                return None
            lc.llama_sampler_chain_add(chain, g)  # first: every later stage sees only legal tokens
        if s.repeat_penalty != 1.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_penalties(
                self.n_vocab, PENALTY_LAST_N, s.repeat_penalty, 0.0, 0.0))
        if s.temperature <= 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        else:
            if s.top_k > 0:
                lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(s.top_k))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(s.top_p, 1))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(s.temperature))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(job.seed & 0xFFFFFFFF))
        return chain

    def _sample(self, lv: _Live, batch_index: int) -> int:
        return int(self.lc.llama_sampler_sample(lv.sampler, self.ctx, batch_index))

    def detokenize(self, tokens: Sequence[int]) -> str:
        import ctypes

        if not tokens:
            return ""
        arr = (self.lc.llama_token * len(tokens))(*tokens)
        size = 8 * len(tokens) + 16
        for _ in range(2):
            buf = ctypes.create_string_buffer(size)
            n = self.lc.llama_detokenize(self.vocab, arr, len(tokens), buf, size, False, False)
            if n >= 0:
                return buf.raw[:n].decode("utf-8", errors="replace")
            size = -n
        return ""

    def close(self) -> None:
        if self.batch is not None:
            self.lc.llama_batch_free(self.batch)
            self.batch = None
