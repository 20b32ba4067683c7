"""What a newcomer sees at the command line: one line for a mistake, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wizardlite.cli import app

ASSETS = Path(__file__).parent / "assets"


@pytest.mark.parametrize("args", [
    ["evolve", "--seeds", str(ASSETS / "seeds_small.jsonl"), "--set", "evolver.backend=fake"],
    ["finetune", "--data", str(ASSETS / "ft_messages.jsonl"), "--base", "no-such-model"],
    ["compare", "--a", "smollm2", "--b", "smollm2", "--judge", "smollm2", "--testset", str(ASSETS / "judge_testset.jsonl")],
    ["eval", "--data", str(ASSETS / "ifeval_tiny.jsonl"), "--model", "smollm2"],
    ["average", "runs/a/ft", "runs/b/ft"],
], ids=["evolve", "finetune", "compare", "eval", "average"])
@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_out_on_an_existing_file_is_one_line(tmp_path: Path, args: list[str], where: str):
    blocker = tmp_path / "results.txt"
    blocker.write_text("keep me\n")
    out = blocker if where == "file" else blocker / "run"
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert isinstance(res.exception, SystemExit) and res.exit_code == 1, res.output  # not a traceback
    text = " ".join(res.output.split())  # one message, however the terminal wrapped it
    assert text.startswith("error:") and text.count("error:") == 1 and "Traceback" not in text, res.output
    assert "is a file" in text and str(blocker) in "".join(res.output.split())
    assert blocker.read_text() == "keep me\n"


def test_any_command_that_meets_a_file_where_a_folder_goes_says_one_line(tmp_path: Path, capsys):
    """The net under commands that write folders without asking the layout first."""
    import typer

    from wizardlite.cli import friendly

    blocker = tmp_path / "results.txt"
    blocker.write_text("keep me\n")

    @friendly
    def writes_a_folder() -> None:
        (blocker / "report").mkdir(parents=True, exist_ok=True)

    with pytest.raises(typer.Exit) as e:
        writes_a_folder()
    text = " ".join(capsys.readouterr().err.split())
    assert e.value.exit_code == 1 and text.startswith("error:") and "is a file where a folder is needed" in text
    assert str(blocker) in text.replace(" ", "")
