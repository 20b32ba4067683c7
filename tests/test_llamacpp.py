"""The in-process llama.cpp backend on the embedded SmolLM2: continuous batching gives the same
greedy text as one-at-a-time decoding, slots are reused, finish reasons are right, shared
prefixes are evaluated once, grammars hold, and bad GGUFs give ModelError.

Run as: pytest tests/test_llamacpp.py -q
"""

from __future__ import annotations

import pytest

from wizardlite.backends import CONTEXT, ERROR, LENGTH, STOP, GenRequest, Sampling, user
from wizardlite.errors import ModelError
from wizardlite.evolve.operations import build_prompt
from wizardlite.recipe import BackendConfig

GREEDY = Sampling(temperature=0.0, max_tokens=24)
QUESTIONS = [
    "Name three rivers in Europe.",
    "What is 12 times 7?",
    "Write one sentence about autumn.",
    "Give a synonym for happy.",
    "Why do cats purr? Answer briefly.",
]
PARENTS = ["Explain why the sky is blue.", "Give three tips for sleeping better.",
           "Write a haiku about the sea.", "Describe how a bicycle gear works."]


@pytest.fixture(scope="module")
def make():
    """Build generators on the embedded model; all are closed at the end of the module."""
    pytest.importorskip("llama_cpp")
    from wizardlite.backends.llamacpp import LlamaCppGenerator

    made = []

    def _make(**kw):
        # One thread: on a CPU shared with other work, OpenMP threads that spin-wait for a busy
        # core make llama.cpp many times slower; one thread keeps the test time steady.
        kw = {"model": "smollm2", "n_ctx": 512, "parallel": 1, "prefix_cache": False, "n_threads": 1, **kw}
        gen = LlamaCppGenerator(BackendConfig(backend="llamacpp", **kw))
        made.append(gen)
        return gen

    yield _make
    for g in made:
        g.close()


def texts(results):
    return [r.text for r in results]


def test_missing_gguf_is_a_model_error(tmp_path):
    from wizardlite.backends.llamacpp import LlamaCppGenerator

    with pytest.raises(ModelError, match="no GGUF"):
        LlamaCppGenerator(BackendConfig(model=str(tmp_path / "absent.gguf")))


@pytest.mark.slow
def test_corrupt_gguf_is_a_model_error(tmp_path):
    pytest.importorskip("llama_cpp")
    from wizardlite.backends.llamacpp import LlamaCppGenerator

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 32)  # right magic, garbage after it
    with pytest.raises(ModelError) as e:
        LlamaCppGenerator(BackendConfig(model=str(bad)))
    assert "\n" not in str(e.value) and "bad.gguf" in str(e.value)


@pytest.mark.slow
def test_batched_greedy_equals_sequential_and_reuses_slots(make):
    seq = make(parallel=1)
    bat = make(parallel=2)  # 5 requests through 2 slots: every slot is reused
    reqs = [GenRequest(user(q), GREEDY) for q in QUESTIONS]
    order = []
    a = seq.generate(reqs)
    b = bat.generate(reqs, on_result=lambda i, r: order.append(i))
    assert sorted(order) == list(range(len(reqs)))  # each request reported once
    # Exact, not approximately equal: measured so on CPU builds, because each slot has its own KV
    # stream and flash attention is off there (benchmarks/notes/generate.md, "Determinism").
    assert texts(a) == texts(b)
    assert all(r.text and r.completion_tokens > 0 and r.prompt_tokens > 10 for r in b)
    assert [r.completion_tokens for r in a] == [r.completion_tokens for r in b]
    # The same request gives the same text whatever shares its batch.
    alone = bat.generate([reqs[3]])
    assert alone[0].text == b[3].text


@pytest.mark.slow
def test_holes_left_by_finished_sequences_are_closed_without_changing_outputs(make):
    seq = make(parallel=1)
    bat = make(parallel=4)
    # Slots 0 and 2 finish first (3 tokens), leaving 1 and 3 live: the sequence in slot 3 moves
    # into slot 2 so that the batch is one run of consecutive sequence ids again.
    short, long_ = Sampling(temperature=0.0, max_tokens=3), Sampling(temperature=0.0, max_tokens=32)
    reqs = [GenRequest(user(f"Write a long story about {x}."), s)
            for x, s in (("a dragon", short), ("a lighthouse", long_), ("a fox", short), ("a river", long_))]
    a, b = seq.generate(reqs), bat.generate(reqs)
    assert bat.stats["slot_moves"] >= 1
    assert texts(a) == texts(b)
    assert [r.completion_tokens for r in b] == [3, 32, 3, 32]


@pytest.mark.slow
def test_parallel_zero_takes_the_doctors_suggestion(make):
    from wizardlite.backends.hardware import suggested_parallel

    assert make(parallel=0).n_slots == suggested_parallel("llamacpp") >= 1


@pytest.mark.slow
def test_max_tokens_is_length_and_context_overflow_is_context(make):
    gen = make(parallel=2, n_ctx=256)
    long_prompt = "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 40
    reqs = [GenRequest(user("Write a long story about a dragon."), Sampling(temperature=0.0, max_tokens=8)),
            GenRequest(user(long_prompt), GREEDY),
            GenRequest(user("Say hello."), Sampling(temperature=0.0, max_tokens=64))]
    r = gen.generate(reqs)
    assert r[0].finish_reason == LENGTH and r[0].completion_tokens == 8
    assert r[1].finish_reason == CONTEXT and r[1].text == "" and r[1].completion_tokens == 0
    assert r[1].prompt_tokens + 1 > 256
    assert r[2].finish_reason == STOP and 0 < r[2].completion_tokens < 64  # its neighbours did not disturb it


@pytest.mark.slow
def test_prefix_reuse_keeps_outputs_and_evaluates_fewer_tokens(make):
    plain = make(parallel=2, prefix_cache=False)
    reuse = make(parallel=2, prefix_cache=True)
    reqs = [GenRequest(user(build_prompt("constraints", p)), Sampling(temperature=0.0, max_tokens=16))
            for p in PARENTS]
    a = plain.generate(reqs)
    b = reuse.generate(reqs)
    assert texts(a) == texts(b)
    assert reuse.stats["prompt_tokens_total"] == plain.stats["prompt_tokens_total"] == sum(r.prompt_tokens for r in b)
    assert plain.stats["prompt_tokens_evaluated"] == plain.stats["prompt_tokens_total"]
    # The shared text (template system turn + operation text) is read once, not four times.
    assert reuse.stats["prompt_tokens_evaluated"] < 0.6 * plain.stats["prompt_tokens_evaluated"]
    # A later call starting with the same prefix evaluates only its own tail.
    before = reuse.stats["prompt_tokens_evaluated"]
    one = reuse.generate([GenRequest(user(build_prompt("constraints", "Name a planet.")), GREEDY)])
    assert reuse.stats["prompt_tokens_evaluated"] - before < one[0].prompt_tokens / 2


@pytest.mark.slow
def test_grammar_forces_an_allowed_reply(make):
    gen = make(parallel=2)
    equal = 'root ::= "Equal" | "Not Equal"'
    score = 'root ::= [1-9] | "10"'
    hot = Sampling(temperature=1.0, max_tokens=8)
    reqs = [GenRequest(user("Are 'Describe a cat' and 'Write about dogs' the same request?"), hot, seed=s,
                       grammar=equal) for s in range(3)]
    reqs += [GenRequest(user("Rate this poem from 1 to 10: roses are red."), hot, seed=s, grammar=score)
             for s in range(3)]
    reqs.append(GenRequest(user("Hello"), hot, grammar='root ::= ("a"'))  # broken GBNF: an error for it alone
    r = gen.generate(reqs)
    assert all(x.text in ("Equal", "Not Equal") for x in r[:3]), texts(r[:3])
    assert all(x.text.isdigit() and 1 <= int(x.text) <= 10 for x in r[3:6]), texts(r[3:6])
    assert all(x.finish_reason == STOP for x in r[:6])
    assert r[6].finish_reason == ERROR and "grammar" in r[6].error


@pytest.mark.slow
def test_sampling_is_seeded_per_request(make):
    gen = make(parallel=3)
    s = Sampling(temperature=0.9, max_tokens=16)
    reqs = [GenRequest(user("Invent a name for a cafe."), s, seed=k) for k in (1, 2, 1)]
    r = gen.generate(reqs)
    assert r[0].text == r[2].text  # same seed, same text, though decoded side by side
    assert gen.generate([reqs[0]])[0].text == r[0].text
