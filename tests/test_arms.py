"""Experiment arms as data (benchmarks/arms.py): the shipped arm files load and fit together, and
a file that does not is refused with the reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from arms import ArmError, load_arms  # noqa: E402


def test_the_ifeval_gain_arms_load_in_order():
    arms = load_arms(REPO / "benchmarks" / "arms" / "ifeval_gain")
    names = list(arms)
    assert names[0] == "base" and len(names) == 20
    assert arms["r8-rank128-s2"].data_arm == "x3-r8"  # tuned on another arm's rows
    assert arms["x3-r8"].data_arm == "x3-r8" and arms["x3-r8"].start_from == "verified-repair-x3"
    assert arms["r8-rank128-avg"].average == ("r8-rank128", "r8-rank128-s2", "r8-rank128-s3", "r8-rank128-s4")
    # the fine-tune seed is no setting of its own: the four rank-128 seeds were tuned alike
    assert len({arms[a].ft_setting for a in arms["r8-rank128-avg"].average}) == 1
    assert arms["r8-rank128"].ft_setting != arms["r8-rank64"].ft_setting


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize(("files", "message"), [
    ({"a": 'about = "x"\norder = 0\ndata = "none"\nrank = 4\n'}, "unknown key(s) rank"),
    ({"a": 'about = "x"\norder = 0\n'}, "'data' is missing"),
    ({"a": 'about = "x"\norder = 0\ndata = "nowhere"\n'}, "names arm 'nowhere'"),
    ({"a": 'about = "x"\norder = 0\ndata = "evolve"\n'}, "needs a recipe"),
    ({"a": 'about = "x"\norder = 0\ndata = "none"\n', "b": 'about = "y"\norder = 0\ndata = "a"\n'}, "share an order"),
    ({"a": 'about = "x"\norder = 0\ndata = "none"\n', "b": 'about = "y"\norder = 1\ndata = "a"\n',
      "c": 'about = "z"\norder = 2\ndata = "b"\n'}, "makes no rows of its own"),
    ({"a": 'about = "x"\norder = 0\ndata = "none"\nevolve = ["evolve.rounds=2"]\n'}, "need data = \"evolve\""),
    ({"a": 'about = "x"\norder = 0\ndata = "none"\naverage = ["b"]\n'}, "names arm 'b'"),
])
def test_arms_that_do_not_fit_are_refused_with_the_reason(tmp_path: Path, files: dict[str, str], message: str):
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises(ArmError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_arms(tmp_path)


def test_an_empty_folder_is_refused(tmp_path: Path):
    with pytest.raises(ArmError, match="no arm files"):
        load_arms(tmp_path)
