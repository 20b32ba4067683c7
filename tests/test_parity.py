"""GGUF parity after export (wizardlite/finetune/parity.py): the shares it reports, the causes
it names, and (slow) a tiny model's good GGUF passing while deliberately broken ones (wrong
EOS id, another chat template, none, a swapped vocabulary, a BOS training never saw, another
model's weights) each fail with their own cause; the embedded SmolLM2 fine-tuned end to end
reaches >= 0.95 next-token agreement in F16.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from wizardlite.finetune import parity
from wizardlite.finetune.parity import Answer, Seen, Vocab
from wizardlite.recipe import GGUF_TYPES

ASSETS = Path(__file__).parent / "assets"
MESSAGES = ASSETS / "ft_messages.jsonl"

# ---------------------------------------------------------------------------- fast


def _answer(text: str = "<p>hi</p>", ids: tuple[int, ...] = (5, 6, 7), answer: tuple[int, ...] = (10, 11, 12, 2)):
    return Answer([{"role": "user", "content": "hi"}], text, list(ids), list(answer))


def _seen(a: Answer, **change) -> Seen:
    s = Seen(a.text, list(a.ids), list(a.ids), list(a.answer), list(a.answer))
    return dataclasses.replace(s, **change)


def _facts(**change) -> Vocab:
    return dataclasses.replace(Vocab(end_id=2, end_token="<|im_end|>", eos_id=2, eot_id=-1, end_is_eog=True,
                                     has_template=True, texts={2: "<|im_end|>", 0: "<|endoftext|>", 1: "<s>"}), **change)


def test_prompts_are_the_turns_before_the_first_answer_held_out_ones_first():
    convs = [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "a?"},
              {"role": "assistant", "content": "A"}, {"role": "user", "content": "more"}],
             [{"role": "user", "content": "b?"}, {"role": "assistant", "content": "B"}],
             [{"role": "user", "content": "b?"}, {"role": "assistant", "content": "other answer"}],  # same prompt
             [{"role": "user", "content": "  "}, {"role": "assistant", "content": "nothing asked"}],
             [{"role": "user", "content": "c?"}, {"role": "assistant", "content": "C"}]]
    got = parity.select_prompts(convs, ["k0", "k1", "k2", "k3", "k4"], prefer={"k4", "k2"}, n=3)
    assert got == [[{"role": "user", "content": "b?"}], [{"role": "user", "content": "c?"}],
                   [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a?"}]]
    assert len(parity.select_prompts(convs, ["k0", "k1", "k2", "k3", "k4"], set(), n=10)) == 3


def test_prompts_from_data_take_the_eval_split_by_content_key():
    from wizardlite.finetune.data import read_conversations
    from wizardlite.records import content_hash

    convs, _, _ = read_conversations(MESSAGES)
    last = content_hash(convs[-1])
    got = parity.prompts_from_data(MESSAGES, [last], 2)
    assert got[0] == parity.first_prompt(convs[-1]) and got[1] == parity.first_prompt(convs[0])


def test_shares_count_prefix_to_the_first_difference_and_argmax_everywhere():
    a = _answer(answer=(10, 11, 12, 13))
    early = _seen(a, greedy=[10, 99, 12, 13], argmax=[10, 99, 12, 13])  # one early slip
    first_n, argmax, identical = parity.shares([a, a], [_seen(a), early])
    assert first_n == pytest.approx((4 + 1) / 8) and argmax == pytest.approx(7 / 8) and identical == 1
    # a GGUF that does not stop at the end of the turn: the answer is longer, the prefix share below 1
    runs_on = _seen(a, greedy=[10, 11, 12, 13, 14, 15, 16, 17])
    assert parity.shares([a], [runs_on])[:2] == (pytest.approx(0.5), 1.0)


def test_a_faithful_gguf_has_no_cause():
    a = _answer()
    assert parity.diagnose([a], [_seen(a)], _facts(), argmax=1.0, threshold=0.95) == []


def test_template_is_named_when_the_gguf_renders_the_prompt_differently():
    a = _answer(text="<|im_start|>system\nYou are SmolLM<|im_end|>\n<|im_start|>user\nhi")
    s = _seen(a, text="<|im_start|>user\nhi")
    causes = parity.diagnose([a], [s], _facts(), argmax=0.4, threshold=0.95)
    assert len(causes) == 1 and causes[0].startswith("template:") and "character 12" in causes[0]
    no_template = parity.diagnose([a], [_seen(a)], _facts(has_template=False), argmax=1.0, threshold=0.95)
    assert [c.split(":")[0] for c in no_template] == ["template"]


def test_tokenizer_is_named_when_the_same_text_becomes_other_ids():
    a = _answer(ids=(5, 6, 7, 8))
    s = _seen(a, ids=[5, 6, 70, 8], ids_of_hf_text=[5, 6, 70, 8])
    (cause,) = parity.diagnose([a], [s], _facts(texts={70: "Ġthe"}), argmax=0.3, threshold=0.95)
    assert cause.startswith("tokenizer:") and "token 2: id 70 'Ġthe' in llama.cpp, 7" in cause


def test_a_bos_training_never_saw_is_a_tokenizer_cause():
    a = _answer(ids=(5, 6, 7))
    (cause,) = parity.diagnose([a], [_seen(a, ids=[1, 5, 6, 7])], _facts(), argmax=0.9, threshold=0.95)
    assert cause.startswith("tokenizer:") and "puts id 1 '<s>' before it" in cause


def test_eos_is_named_when_the_end_of_turn_is_not_the_gguf_end_token():
    a = _answer()
    (cause,) = parity.diagnose([a], [_seen(a)], _facts(eos_id=0), argmax=1.0, threshold=0.95)
    assert cause.startswith("EOS:") and "id 2 '<|im_end|>'" in cause and "eos 0 '<|endoftext|>'" in cause
    assert "does not stop" not in cause
    (cause,) = parity.diagnose([a], [_seen(a)], _facts(end_is_eog=False), argmax=1.0, threshold=0.95)
    assert cause.startswith("EOS:") and "llama.cpp does not stop there" in cause
    assert parity.diagnose([a], [_seen(a)], _facts(eos_id=0, eot_id=2), argmax=1.0, threshold=0.95) == []


def test_weights_only_when_nothing_else_explains_a_low_share():
    a = _answer()
    (cause,) = parity.diagnose([a], [_seen(a)], _facts(), argmax=0.5, threshold=0.95)
    assert cause.startswith("weights:") and "50%" in cause and "95%" in cause
    both = parity.diagnose([a], [_seen(a, text="other")], _facts(), argmax=0.5, threshold=0.95)
    assert [c.split(":")[0] for c in both] == ["template"]


def test_failure_is_one_line_naming_the_cause_and_rows_show_each_gguf():
    good = parity.Parity("model.f16.gguf", "f16", 8, 190, 1.0, 1.0, 8, 0.95, [])
    bad = parity.Parity("model.gguf", "q8_0", 8, 190, 0.4, 0.6, 1, 0.9, ["EOS: the tokenizer ends a turn ..."])
    assert parity.failure([good]) is None
    msg = parity.failure([good, bad])
    assert msg is not None and "\n" not in msg and "model.gguf" in msg and "likely cause: EOS:" in msg
    assert [r[0] for r in parity.rows([good, bad])] == ["parity f16", "parity q8_0"]
    assert "(EOS)" in parity.rows([good, bad])[1][1] and bad.to_json()["ok"] is False and good.to_json()["ok"]


def test_every_gguf_type_has_a_threshold():
    assert set(GGUF_TYPES) <= set(parity.THRESHOLDS)
    assert all(0 < t <= 1 for t in parity.THRESHOLDS.values())


# ---------------------------------------------------------------------------- slow: llama.cpp on a tiny model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random Llama with SmolLM2's tokenizer, its F16 GGUF, and the transformers answers."""
    import tiny_models

    from wizardlite.errors import ModelError
    from wizardlite.finetune import load_tokenizer
    from wizardlite.gguf import convert
    from wizardlite.gguf.to_hf import base_folder

    try:
        smol = base_folder("smollm2")
    except ModelError as e:
        pytest.skip(str(e))
    tmp = tmp_path_factory.mktemp("parity")
    folder = tiny_models.build(tmp / "hf", "llama", smol)
    gguf = convert.convert(folder, tmp / "model.f16.gguf")
    tokenizer = load_tokenizer(folder, "")
    prompts = parity.prompts_from_data(MESSAGES, [], 4)
    answers = parity.hf_answers(parity.load_hf(folder), tokenizer, prompts, 16)
    return {"tmp": tmp, "folder": folder, "gguf": gguf, "tokenizer": tokenizer, "answers": answers, "smol": smol}


def rewrite(src: Path, dst: Path, set_: dict | None = None, remove: tuple[str, ...] = ()) -> Path:
    """A copy of a GGUF with some metadata replaced or removed (gguf's own gguf_new_metadata)."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(str(src))
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    new = {}
    for key, value in (set_ or {}).items():
        field = reader.get_field(key)
        vtype = field.types[0] if field is not None else gguf.GGUFValueType.UINT32
        if key == gguf.Keys.Tokenizer.CHAT_TEMPLATE:
            vtype = gguf.GGUFValueType.STRING
        elif isinstance(value, bool):
            vtype = gguf.GGUFValueType.BOOL
        sub = field.types[-1] if field is not None and vtype == gguf.GGUFValueType.ARRAY else None
        new[key] = MetadataDetails(vtype, value, sub_type=sub)
    writer = gguf.GGUFWriter(str(dst), arch=arch, endianess=reader.endianess)
    copy_with_new_metadata(reader, writer, new, list(remove))
    return dst


def _check(tiny, gguf: Path) -> parity.Parity:
    return parity.check_gguf(gguf, "f16", tiny["answers"], tiny["tokenizer"], 16)


@pytest.mark.slow
def test_a_good_export_agrees(tiny):
    r = _check(tiny, tiny["gguf"])
    assert r.ok, r.causes
    assert r.argmax >= parity.THRESHOLDS["f16"] and r.prompts == 4 and r.tokens == sum(len(a.answer) for a in tiny["answers"])
    print(f"\ntiny llama f16: argmax {r.argmax:.3f}, first-n {r.first_n:.3f}, {r.identical}/4 identical, {r.seconds:.1f}s")


def _swap_two_prompt_tokens(tiny) -> dict:
    import gguf

    tokens = list(gguf.GGUFReader(str(tiny["gguf"])).get_field("tokenizer.ggml.tokens").contents())
    ids = [i for i in tiny["answers"][0].ids if not tokens[i].startswith("<|")]
    a, b = ids[0], next(i for i in ids if i != ids[0])
    tokens[a], tokens[b] = tokens[b], tokens[a]
    return {"tokenizer.ggml.tokens": tokens}


BROKEN = {
    # the end of a turn (<|im_end|>, id 2) is no longer the GGUF's EOS: <|endoftext|> (0) is
    "eos": ("EOS", lambda t: {"tokenizer.ggml.eos_token_id": 0}, ()),
    # a plain ChatML template, without SmolLM2's default system turn
    "template": ("template", lambda t: {"tokenizer.chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n"
                 "{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"},
                 ()),
    "no-template": ("template", lambda t: {}, ("tokenizer.chat_template",)),
    # two of the prompt's tokens trade places in the vocabulary: same text, other ids
    "vocabulary": ("tokenizer", _swap_two_prompt_tokens, ()),
    # llama.cpp puts a BOS (<|endoftext|>) before every prompt; training had none
    "bos": ("tokenizer", lambda t: {"tokenizer.ggml.add_bos_token": True, "tokenizer.ggml.bos_token_id": 0}, ()),
}


@pytest.mark.slow
@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_broken_export_is_diagnosed(tiny, broken: str):
    cause, change, remove = BROKEN[broken]
    gguf = rewrite(tiny["gguf"], tiny["tmp"] / f"{broken}.gguf", change(tiny), remove)
    r = _check(tiny, gguf)
    assert not r.ok and r.causes[0].split(":")[0] == cause, r.causes
    assert parity.failure([r]).count("\n") == 0
    print(f"\n{broken}: argmax {r.argmax:.3f}, first-n {r.first_n:.3f}: {r.causes[0][:160]}")


@pytest.mark.slow
def test_another_models_weights_are_diagnosed_as_weights(tiny):
    import tiny_models

    from wizardlite.gguf import convert

    other = tiny_models.build(tiny["tmp"] / "other", "llama", tiny["smol"], seed=1)
    r = _check(tiny, convert.convert(other, tiny["tmp"] / "other.gguf"))
    assert [c.split(":")[0] for c in r.causes] == ["weights"] and r.argmax < 0.5


@pytest.mark.slow
def test_embedded_model_fine_tuned_reaches_the_f16_goal(tmp_path: Path):
    """SmolLM2 tuned a few steps, exported as the default recipe does (Q8_0 shipped, merged/ in
    bf16): the fine-tune's own parity check passes, F16 >= 0.95, figures in recipe.resolved.json."""
    from rich.console import Console

    from wizardlite import finetune
    from wizardlite.errors import ModelError
    from wizardlite.gguf.to_hf import base_folder
    from wizardlite.layout import FinetuneLayout
    from wizardlite.recipe import load_recipe

    try:
        base_folder("smollm2")
    except ModelError as e:
        pytest.skip(str(e))
    r = load_recipe(None)
    ft = dataclasses.replace(r.finetune, base="smollm2", data=str(MESSAGES), out=str(tmp_path / "ft"), engine="cpu",
                             max_steps=3, batch_size=2, max_length=256, learning_rate=1e-3)
    console = Console(record=True, width=200)
    out = FinetuneLayout(finetune.run(dataclasses.replace(r, finetune=ft), console=console))
    figures = {p["ftype"]: p for p in json.loads(out.resolved.read_text())["results"]["parity"]}
    assert set(figures) == {"f16", "q8_0"} and all(p["ok"] for p in figures.values()), figures
    assert figures["f16"]["argmax"] >= 0.95
    assert "parity f16" in console.export_text() and not list(out.root.glob(".parity-*"))  # the F16 copy is gone
    print("\n" + "\n".join(f"{k}: {v}" for k, v in figures.items()))
