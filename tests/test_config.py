from pathlib import Path

import pytest

from wizardlite.errors import ConfigError
from wizardlite.recipe import load_recipe, recipe_from_dict

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))


def test_there_are_recipes():
    assert len(RECIPES) >= 3


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_parses_and_validates(path):
    recipe = load_recipe(path)
    assert recipe.evolve.rounds >= 1
    assert recipe.evolve.operations
    # every recipe opens with a comment that shows the command running it
    assert path.read_text().lstrip().startswith("# Run as:")


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
