"""The registry of constraint types, one module per family: each module's `TYPES` list.

Run as: wizardlite constraints

Adding a type is one `ConstraintType` in its family's module. Ids of types that IFEval also has
are IFEval's own ids, with IFEval's kwargs, and are checked by IFEval's checkers (from
`if-verifiable`), so a constrained record can be written out in IFEval's format and scored by
any IFEval scorer. `heldout.py` holds the test-only types, `composed.py` the compositions.
"""

from __future__ import annotations

from wizardlite.constraints import (
    case,
    composed,
    counting,
    formats,
    heldout,
    length,
    lexical,
    ordering,
    position,
    punctuation,
    repetition,
    structure,
)
from wizardlite.constraints.base import ConstraintType

_MODULES = (length, counting, lexical, position, formats, case, punctuation, structure, repetition, ordering,
            heldout, composed)

TYPES: dict[str, ConstraintType] = {}
for _m in _MODULES:
    for _t in _m.TYPES:
        if _t.id in TYPES:
            raise ValueError(f"constraint type {_t.id} is defined twice")
        TYPES[_t.id] = _t

# IFEval's ids that the registry does not draw, with the family they would belong to, so that
# every IFEval prompt can be put in a half: answering in another language (the small models this
# project tunes cannot), and repeating the prompt (its parameter is the whole prompt).
IFEVAL_ONLY: dict[str, str] = {"language:response_language": "lexical", "combination:repeat_prompt": "repetition"}
