"""Recipes: every shipped one validates against every registry, and a typo in one would fail here;
unknown keys, bad values and overrides are reported by name."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from wizardlite.cli import load as load_as_the_cli_does
from wizardlite.errors import ConfigError, ModelError
from wizardlite.recipe import load_recipe, recipe_from_dict
from wizardlite.tools.recipes import read_header, shipped

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.toml"))


def test_there_are_recipes():
    assert len(RECIPES) >= 4


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates_against_every_registry(path):
    # what every command runs: the recipe's own checks, then the backends' and the evolve stage's
    # registries (backends, operations, constraint types)
    recipe = load_as_the_cli_does(path, [], {})
    assert recipe.evolve.rounds >= 1
    assert recipe.evolve.operations


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_file_a_shipped_recipe_names_is_in_the_repository(path, monkeypatch):
    monkeypatch.chdir(REPO)  # recipes name files from the root of the clone, as `just` runs them
    recipe = load_recipe(path)
    named = [recipe.seeds.path, recipe.judge.testset, *recipe.decontaminate.files]
    named += [recipe.eval.data] if recipe.eval.data else []
    assert [f for f in named if not Path(f).is_file()] == []
    assert not any(Path(f).is_absolute() or f.startswith("..") for f in named)  # a clone has nothing beside it


# ---------------------------------------------------------------------------- a typo fails

# Each mutation: a recipe's text with one name misspelt, and that name (the error must quote it);
# None when the recipe has no such name to misspell.
def _misspell(pattern: str, wrong: Callable[[str], str]) -> Callable[[str], tuple[str, str] | None]:
    def mutate(text: str) -> tuple[str, str] | None:
        m = re.search(pattern, text)
        if m is None:
            return None
        bad = wrong(m.group(1))
        return text[:m.start(1)] + bad + text[m.end(1):], bad
    return mutate


def _constraint_type(text: str) -> tuple[str, str] | None:
    """The first constraint type a recipe's verify.types names, misspelt; or, in a [verify] that
    names none, a misspelt one added."""
    listed = _misspell(r'(?m)^types = \[\s*"([^"]+)"', lambda name: name[:-1])(text)
    if listed is not None or "[verify]" not in text:
        return listed
    return text.replace("[verify]", '[verify]\ntypes = ["punctuation:no_comas"]', 1), "punctuation:no_comas"


TYPOS: dict[str, Callable[[str], tuple[str, str] | None]] = {
    "operation": _misspell(r"operations = \{ ?(\w+) =", lambda name: name + "x"),
    "backend": _misspell(r'backend = "(\w+)"', lambda name: name[:-1]),
    "constraint type": _constraint_type,
}
CASES = [(p, kind) for p in RECIPES for kind, mutate in TYPOS.items() if mutate(p.read_text()) is not None]


def test_every_kind_of_typo_is_tried_on_some_shipped_recipe():
    assert {kind for _, kind in CASES} == set(TYPOS)


@pytest.mark.parametrize("path, kind", CASES, ids=lambda x: x.name if isinstance(x, Path) else x)
def test_a_typo_in_a_shipped_recipe_fails_validation(path, kind, tmp_path):
    mutated = TYPOS[kind](path.read_text())
    assert mutated is not None
    text, wrong = mutated
    copy = tmp_path / path.name
    copy.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_as_the_cli_does(copy, [], {})
    assert f"'{wrong}'" in str(e.value)


# ---------------------------------------------------------------------------- the fine-tune base


def test_a_misspelt_finetune_base_is_refused_by_name():
    from wizardlite.gguf.to_hf import base_folder

    with pytest.raises(ModelError, match="unknown model 'smollm3'"):
        base_folder("smollm3")


@pytest.mark.slow
def test_every_shipped_base_is_an_architecture_the_export_writes(monkeypatch):
    from wizardlite.gguf import convert
    from wizardlite.gguf.to_hf import base_folder

    monkeypatch.chdir(REPO)  # the converted base is cached in models/hf, as for a user
    bases = {load_recipe(p).finetune.base for p in RECIPES}
    for base in sorted(bases):
        folder = base_folder(base)
        convert.check_architecture(folder)  # raises unless llama.cpp's converter writes it
        assert convert.architecture_of(folder) in convert.architectures()


# ---------------------------------------------------------------------------- headers


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_has_a_header_with_its_command_and_purpose(path):
    h = read_header(path)
    assert h.command.startswith(("wizardlite ", "just "))
    assert f"recipes/{path.name}" in path.read_text().split("\n\n")[0]  # the header says how to run this file
    assert 20 <= len(h.purpose) <= 100 and h.purpose.endswith(".")


def test_the_listing_reads_every_recipe_and_the_command_shows_them():
    from typer.testing import CliRunner

    from wizardlite.cli import app

    assert [h.path for h in shipped(REPO / "recipes")] == RECIPES
    res = CliRunner().invoke(app, ["recipes", "--dir", str(REPO / "recipes")], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    for h in shipped(REPO / "recipes"):
        assert h.path.stem in res.output and h.purpose in res.output and h.command in res.output


@pytest.mark.parametrize("text, problem", [
    ("[run]\nseed = 1\n", "opens with '# Run as: "),
    ("# Run as:\n#\n# Purpose.\n", "opens with '# Run as: "),
    ("# Run as: wizardlite evolve\n# Purpose right away.\n", "a line '#' and then"),
    ("# Run as: wizardlite evolve\n#\n#\n# Purpose after two.\n", "a line '#' and then"),
    ("# Run as: wizardlite evolve\n#\n# A purpose\n# on two lines.\n", "the purpose is one line"),
])
def test_a_header_out_of_shape_says_what_is_missing(tmp_path, text, problem):
    p = tmp_path / "r.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        read_header(p)


def test_a_header_reads_past_the_commands_continuation(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("# Run as: just evolve\n#   (= wizardlite evolve --recipe r.toml)\n#\n# What for.\n#\n"
                 "# More.\n\n[evolve]\nrounds = 1\n# not the header\n")
    h = read_header(p)
    assert (h.command, h.purpose) == ("just evolve", "What for.")


def test_unknown_keys_are_reported_together_with_their_names():
    with pytest.raises(ConfigError) as e:
        recipe_from_dict({"evolve": {"roundz": 2}, "sedes": {}, "evolver": {"temprature": 0.1}})
    msg = str(e.value)
    assert "3 problem" in msg
    assert "evolve.roundz" in msg and "sedes" in msg and "evolver.temprature" in msg


def test_type_errors_and_bad_values_name_the_key():
    from wizardlite.backends import check_recipe as backends_check
    from wizardlite.evolve import check_recipe as evolve_check

    with pytest.raises(ConfigError) as e:
        recipe_from_dict({"evolve": {"rounds": "four", "operations": {"teleport": 1}}, "dedup": {"threshold": 1.5}},
                         checks=(backends_check, evolve_check))
    msg = str(e.value)
    assert "evolve.rounds: expected int" in msg
    assert "teleport" in msg
    assert "dedup.threshold" in msg


def test_answerer_inherits_unset_keys_from_evolver():
    r = recipe_from_dict({"evolver": {"model": "x.gguf", "temperature": 0.3}, "answerer": {"max_tokens": 99}})
    assert r.answerer.model == "x.gguf" and r.answerer.temperature == 0.3 and r.answerer.max_tokens == 99
    assert r.judge_model.model == "x.gguf"


def test_overrides_are_applied_before_validation(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("[evolve]\nrounds = 4\n")
    r = load_recipe(p, ["evolve.rounds=2", "evolver.endpoints=['http://127.0.0.1:1/v1']", "evolver.backend=http"])
    assert r.evolve.rounds == 2 and r.evolver.endpoints == ("http://127.0.0.1:1/v1",)
    with pytest.raises(ConfigError, match="evolve.rounds must be >= 1"):
        load_recipe(p, ["evolve.rounds=0"])


def test_missing_and_invalid_recipe_files(tmp_path):
    with pytest.raises(ConfigError, match="no recipe at"):
        load_recipe(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[evolve\nrounds = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_recipe(bad)


def test_every_section_is_checked_the_judge_section_included():
    with pytest.raises(ConfigError) as e:
        recipe_from_dict({"judge": {"limit": -5, "judge_temperature": 99}})
    assert "judge.limit must be >= 0" in str(e.value) and "judge.judge_temperature" in str(e.value)


def test_registries_check_backend_names_and_their_needs():
    from wizardlite.backends import check_recipe

    with pytest.raises(ConfigError) as e:
        recipe_from_dict({"evolver": {"backend": "vllm"}, "answerer": {"backend": "http"}}, checks=(check_recipe,))
    msg = str(e.value)
    assert "evolver.backend: 'vllm' is not one of llamacpp, http, fake" in msg
    assert "answerer.endpoints: the http backend needs at least one URL" in msg
