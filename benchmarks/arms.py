"""Experiment arms as data: one small TOML file per arm, read and checked here.

Run as: python benchmarks/arms.py benchmarks/arms/ifeval_gain     (lists the arms and what each does)

An arm file says how its training set is made and how its model is tuned, in `--set` overrides of
the recipes, so that a driver (benchmarks/ifeval_gain.py) needs no table of arms in code:

    about = "what the arm asks"          one line, shown in listings
    order = 7                            the arm's place in tables and in a full run
    data = "evolve"                      how the rows are made: "none" (the untouched model),
                                         "answered-seeds" (the seeds answered by the model),
                                         "evolve" (its own evolve run of `recipe`),
                                         "equal" (the larger of `equal_of` cut to the other's size),
                                         or the name of another arm, whose rows it is tuned on
    recipe = "recipes/verified.toml"     data = "evolve": the recipe of the run
    evolve = ["verify.repair=true"]      data = "evolve": overrides of that recipe
    start_from = "verified-repair-x3"    data = "evolve": copy that arm's finished journal first
    finetune = ["finetune.rank=128"]     overrides of the fine-tune
    average = ["arm-a", "arm-b"]         the model is the mean of these arms' fine-tunes

The arm's name is its file name. Every reference to another arm must name one that exists; a
file with a key not listed above is refused, naming the key.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

MADE = ("none", "answered-seeds", "evolve", "equal")  # the ways an arm makes its own rows


@dataclass(frozen=True)
class Arm:
    name: str
    about: str
    order: int
    data: str
    recipe: str = ""
    evolve: tuple[str, ...] = ()
    start_from: str | None = None
    finetune: tuple[str, ...] = ()
    average: tuple[str, ...] = ()
    equal_of: tuple[str, ...] = ()

    @property
    def data_arm(self) -> str:
        """The arm whose training set this one is tuned on: its own, or the arm `data` names."""
        return self.name if self.data in MADE else self.data

    @property
    def ft_setting(self) -> frozenset[str]:
        """The fine-tune overrides without the seed: arms with equal settings were tuned alike."""
        return frozenset(o for o in self.finetune if not o.startswith("finetune.seed="))


class ArmError(ValueError):
    pass


def _read(path: Path) -> Arm:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ArmError(f"{path}: not valid TOML ({e})") from None
    known = {f.name for f in fields(Arm)} - {"name"}
    if unknown := sorted(set(raw) - known):
        raise ArmError(f"{path}: unknown key(s) {', '.join(unknown)}; an arm takes {', '.join(sorted(known))}")
    for key in ("about", "order", "data"):
        if key not in raw:
            raise ArmError(f"{path}: '{key}' is missing")
    lists = {k: tuple(raw[k]) for k in ("evolve", "finetune", "average", "equal_of") if k in raw}
    return Arm(name=path.stem, **{**raw, **lists})


def load_arms(folder: Path) -> dict[str, Arm]:
    """Every arm in `folder`, in their `order`, after checking that they fit together."""
    arms = sorted((_read(p) for p in folder.glob("*.toml")), key=lambda a: a.order)
    if not arms:
        raise ArmError(f"no arm files (*.toml) in {folder}")
    by_name = {a.name: a for a in arms}
    errs = []
    orders = [a.order for a in arms]
    if len(set(orders)) != len(orders):
        errs.append(f"two arms share an order in {folder}: {sorted(o for o in set(orders) if orders.count(o) > 1)}")
    for a in arms:
        refs = [a.data] if a.data not in MADE else []
        refs += [*a.average, *a.equal_of, *([a.start_from] if a.start_from else [])]
        errs += [f"{a.name}: names arm '{r}', which has no file in {folder}" for r in refs if r not in by_name]
        if a.data == "evolve" and not a.recipe:
            errs.append(f"{a.name}: data = \"evolve\" needs a recipe")
        if (a.evolve or a.start_from) and a.data != "evolve":
            errs.append(f"{a.name}: evolve overrides and start_from need data = \"evolve\"")
        if a.data == "equal" and len(a.equal_of) != 2:
            errs.append(f"{a.name}: data = \"equal\" needs equal_of = [two arms]")
        if a.data not in MADE and by_name.get(a.data) and by_name[a.data].data_arm != a.data:
            errs.append(f"{a.name}: data = '{a.data}', an arm that makes no rows of its own")
    if errs:
        raise ArmError("; ".join(errs))
    return by_name


if __name__ == "__main__":
    for arm in load_arms(Path(sys.argv[1])).values():
        print(f"{arm.name:22} {arm.about}")
