"""The mean of several LoRA fine-tunes of one base, as one model: a uniform "model soup"
(Wortsman et al., 2022). Tunes that differ only in their seed land on different sides of what the
data teaches; their mean keeps what they agree on and halves, thirds... what they do not.

Run as: wizardlite average FT_DIR FT_DIR [...] --out DIR

Each FT_DIR is a finished `wizardlite finetune` output folder (its adapter/ and
recipe.resolved.json). Every adapter's update, B @ A times its own scale, is computed in fp32
by PEFT and added to the base at 1/n; a fine-tune that did not adapt some layer counts as zero
there. The result is written as a fine-tune's is (merged/, model.gguf, Modelfile), from the
first member's export settings, with average.json naming the members.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from wizardlite.errors import ConfigError, ModelError
from wizardlite.finetune import base_identity, load_tokenizer, parity
from wizardlite.finetune.export import export_model
from wizardlite.gguf import to_hf
from wizardlite.io import atomic_write_text, tree_sha256
from wizardlite.layout import FinetuneLayout
from wizardlite.quiet import library_bars_off
from wizardlite.recipe import recipe_from_dict


@dataclasses.dataclass(frozen=True)
class Member:
    folder: Path
    info: dict[str, Any]  # its recipe.resolved.json

    @property
    def adapter(self) -> Path:
        return FinetuneLayout(self.folder).adapter

    @property
    def finetune(self) -> dict[str, Any]:
        return dict(self.info["recipe"]["finetune"])


def read_members(folders: Sequence[Path]) -> list[Member]:
    """The fine-tunes to average, checked: finished, with an adapter, all of one base and template."""
    if len(folders) < 2:
        raise ConfigError("averaging needs at least two fine-tune folders")
    if len({f.resolve() for f in folders}) < len(folders):
        raise ConfigError("a fine-tune folder is named twice: each member counts once")
    members = []
    for f in folders:
        resolved = FinetuneLayout(f).resolved
        if not resolved.is_file():
            raise ConfigError(f"{f} is not a fine-tune output folder (no {resolved.name}): run `wizardlite finetune` first")
        info = json.loads(resolved.read_text(encoding="utf-8"))
        if info.get("status") != "done":
            raise ConfigError(f"the fine-tune in {f} is not finished: run the same `wizardlite finetune` again to resume it")
        m = Member(f, info)
        if not (m.adapter / "adapter_config.json").is_file():
            raise ConfigError(f"{f} has no adapter/: fine-tune it with finetune.export including \"adapter\"")
        members.append(m)
    first = members[0]
    for m in members[1:]:
        if m.info["base"]["sha256"] != first.info["base"]["sha256"]:
            raise ConfigError(f"{m.folder} tuned another base than {first.folder} "
                              f"({m.info['base']['name']} against {first.info['base']['name']}): only tunes of one base average")
        if m.finetune.get("chat_template", "") != first.finetune.get("chat_template", ""):
            raise ConfigError(f"{m.folder} and {first.folder} were tuned with different chat templates: "
                              "the averaged model can ship only one")
    return members


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How alike the members' updates are, over all adapted weights: `gram[i][j]` is the dot
    product of member i's whole update with member j's."""

    gram: tuple[tuple[float, ...], ...]

    @property
    def norms(self) -> list[float]:
        return [math.sqrt(self.gram[i][i]) for i in range(len(self.gram))]

    @property
    def cosines(self) -> list[float]:
        """Each pair's cosine, (0, 1), (0, 2), ..., (1, 2), ..."""
        n, norms = len(self.gram), self.norms
        return [self.gram[i][j] / (norms[i] * norms[j]) for i in range(n) for j in range(i + 1, n) if norms[i] and norms[j]]

    @property
    def kept(self) -> float:
        """The mean update's size over a member's (their mean size): 1 when the members agree,
        1/sqrt(n) when their updates are unrelated (orthogonal, equally large)."""
        n = len(self.gram)
        mean_norm = math.sqrt(max(sum(map(sum, self.gram)), 0.0)) / n
        return mean_norm / (sum(self.norms) / n) if any(self.norms) else 0.0


def mean_of_adapters(base_dir: Path, adapters: Sequence[Path]) -> tuple[Any, Agreement]:
    """The base (fp32) with the mean of the adapters' updates added in, as a plain transformers
    model, and how alike those updates were."""
    import torch
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32, local_files_only=True)
    names = [f"member{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(base, str(adapters[0]), adapter_name=names[0])
    for name, path in zip(names[1:], adapters[1:], strict=True):
        model.load_adapter(str(path), adapter_name=name)
    layers: list[Any] = [m for m in model.modules() if isinstance(m, LoraLayer)]
    gram = torch.zeros(len(names), len(names), dtype=torch.float64)
    with torch.no_grad():
        for layer in layers:
            weight = layer.get_base_layer().weight
            # a member that did not adapt this layer left it as the base: an update of zero
            updates = torch.stack([layer.get_delta_weight(n).float() if n in layer.lora_A
                                   else torch.zeros_like(weight, dtype=torch.float32) for n in names])
            flat = updates.flatten(1).double()
            gram += flat @ flat.T
            weight.copy_((weight.float() + updates.mean(0)).to(weight.dtype))
    agreement = Agreement(tuple(tuple(float(x) for x in row) for row in gram.tolist()))
    return model.unload(), agreement  # the LoRA layers out, the updated base weights kept


def up_to_date(out: Path, folders: Sequence[Path]) -> bool:
    """Whether `out` holds the mean of exactly these fine-tunes' adapters as they are now (what its
    average.json names), with every output it lists in place and its parity check passed."""
    path = out / "average.json"
    if not path.is_file():
        return False
    info = json.loads(path.read_text(encoding="utf-8"))
    named = [(Path(m["folder"]).resolve(), m["adapter_sha256"]) for m in info.get("members", [])]
    current = [(f.resolve(), tree_sha256(FinetuneLayout(f).adapter)) for f in folders]
    return (named == current and all(Path(o).exists() for o in info.get("outputs", {}).values())
            and all(r.get("ok") for r in info.get("parity", [])))


def average(folders: Sequence[Path], out: Path, console: Console | None = None) -> Path:
    """Average the fine-tunes in `folders` into `out`; return `out`."""
    console = console or Console(stderr=True)
    layout = FinetuneLayout(out)  # a file where the folder goes: refused before anything is read
    members = read_members(folders)
    if any(out.resolve() == m.folder.resolve() for m in members):
        raise ConfigError(f"--out {out} is one of the members: write the average to a new folder")
    first = members[0]
    cfg = recipe_from_dict({"finetune": first.finetune}, source=str(first.folder)).finetune
    cfg = dataclasses.replace(cfg, export=tuple(e for e in cfg.export if e != "adapter"))  # no single adapter
    base_dir = to_hf.base_folder(cfg.base)
    if base_identity(base_dir) != first.info["base"]["sha256"]:
        raise ModelError(f"the base '{cfg.base}' ({base_dir}) is not the one these tunes started from: "
                         "restore it, or fine-tune again")
    tokenizer = load_tokenizer(base_dir, cfg.chat_template)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with library_bars_off(), console.status(f"averaging {len(members)} adapters ..."):
        model, agreement = mean_of_adapters(base_dir, [m.adapter for m in members])
    timings["average_s"] = time.perf_counter() - t
    layout.root.mkdir(parents=True, exist_ok=True)
    with library_bars_off():
        outputs = export_model(cfg, model, layout, tokenizer, base_dir, timings, console)
        # the averaged GGUF is checked as a fine-tune's is, against merged/ (there is no one adapter)
        checked = parity.after_export(cfg.parity, layout, outputs, cfg.gguf_types, tokenizer, base_dir,
                                      first.info["data"]["path"], [], console, timings, from_adapter=False)
    info = {"members": [{"folder": str(m.folder), "adapter_sha256": tree_sha256(m.adapter),
                         "seed": m.finetune.get("seed"), "rank": m.finetune.get("rank")} for m in members],
            "agreement": {"update_norms": agreement.norms, "cosines": agreement.cosines, "kept": agreement.kept},
            "base": first.info["base"], "outputs": outputs, "parity": [r.to_json() for r in checked],
            "seconds": {k: round(v, 2) for k, v in timings.items()}}
    atomic_write_text(layout.root / "average.json", json.dumps(info, indent=2, ensure_ascii=False))
    n, cos = len(members), agreement.cosines
    console.print(f"averaged {n} fine-tunes of {cfg.base} into {layout.root} "
                  f"({', '.join(sorted(outputs))}; {sum(timings.values()):.0f} s)")
    if cos:
        console.print(f"the members' updates: pairwise cosine {min(cos):.2f} to {max(cos):.2f}; the mean update is "
                      f"{100 * agreement.kept:.0f}% of a member's size (100% if they agreed, "
                      f"{100 / math.sqrt(n):.0f}% if unrelated)")
    if problem := parity.failure(checked):  # everything is written; the GGUF is not the averaged model
        raise ModelError(problem)
    return layout.root
