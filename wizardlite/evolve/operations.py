"""The evolution operations: one prompt each, and the cleaning of what the evolver replies.

In-depth operations make an instruction harder (a constraint, a deeper question, a concrete
case, more reasoning steps, input data to work on); in-breadth writes a new, rarer
instruction in the same domain. The code operations follow WizardCoder's list.

Every prompt is laid out as [fixed text for the operation][parent instruction][reply cue], so
that all prompts of one operation share a long prefix that a backend can evaluate once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARENT_MARKER = "### Original instruction"
CHILD_MARKER = "### New instruction"


@dataclass(frozen=True)
class Operation:
    name: str
    kind: str  # depth | breadth | verifiable (made by the program: no prompt)
    task: str  # what the evolver must do, in the project's words
    example: str = ""  # optional few-shot demonstration


_DEPTH_INTRO = (
    "You rewrite instructions for a dataset that trains AI assistants. Make the original instruction a bit "
    "harder for a capable assistant, while keeping it sensible, answerable by a person, and about the same "
    "topic. Keep every part of the original that is not text (tables, code, numbers). The new instruction "
    "may add only 10 to 20 words. Reply with the new instruction alone: no preamble, no notes, no answer."
)

_BREADTH_INTRO = (
    "You write instructions for a dataset that trains AI assistants. Take the original instruction as "
    "inspiration and write a brand-new one in the same domain, on a rarer, more specific topic. It should "
    "be about as long and as hard as the original, and answerable by a person. Reply with the new "
    "instruction alone: no preamble, no notes, no answer."
)

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in [
        Operation("constraints", "depth", "Add one more constraint or requirement the answer must meet."),
        Operation("deepen", "depth",
                  "If the original asks about something, widen and deepen what it asks: ask about causes, "
                  "consequences or the reasons behind it."),
        Operation("concretize", "depth",
                  "Replace general ideas in the original with more specific, concrete ones."),
        Operation("reasoning", "depth",
                  "If the original can be solved in a few simple steps, rewrite it so that it explicitly "
                  "requires reasoning in several steps."),
        Operation("complicate_input", "depth",
                  "Add input data the answer must work with: a small table, a JSON or XML snippet, or a short "
                  "piece of code, written out in full inside the new instruction.",
                  example=(
                      "Example. Original: Find the most expensive item.\n"
                      "New: Find the most expensive item in this table and give its price in euros.\n"
                      "| item | price (USD) |\n|---|---|\n| lamp | 40 |\n| chair | 85 |\n| desk | 120 |"
                  )),
        Operation("breadth", "breadth", "Write a new instruction in the same domain on a rarer topic."),
        # Made by the program, not the evolver: constraints that code checks (evolve/verify.py).
        Operation("verifiable_constraints", "verifiable",
                  "Add one to three constraints from the registry that a checker can verify."),
        # WizardCoder's operations for code instructions.
        Operation("code_constraints", "depth", "Add one new constraint or requirement the program must meet."),
        Operation("code_rare_requirement", "depth",
                  "Replace a common requirement of the task with a less common, more specific one."),
        Operation("code_reasoning", "depth",
                  "If the task can be solved with only a few logical steps, add more reasoning steps to it."),
        Operation("code_misdirection", "depth",
                  "Add a short piece of erroneous code as a reference, to increase misdirection; the task "
                  "must still ask for correct code.",
                  example=(
                      "Example. Original: Write a function that returns the largest number in a list.\n"
                      "New: Write a function that returns the largest number in a list. This attempt is "
                      "wrong; explain why and fix it:\n```python\ndef largest(xs):\n    best = 0\n"
                      "    for x in xs:\n        if x > best:\n            best = x\n    return best\n```"
                  )),
        Operation("code_complexity", "depth",
                  "Ask for a solution that meets a stated time or space complexity requirement (do not do "
                  "this often)."),
    ]
}

# Phrases that only appear in an instruction when the evolver copied our prompt (rule 4).
PROMPT_MARKERS: tuple[str, ...] = (
    "given prompt", "rewritten prompt", "#rewritten prompt#", "created prompt", "new prompt",
    "original instruction", "new instruction", "rewritten instruction",
)


def build_prompt(op_name: str, parent_instruction: str) -> str:
    """The evolver's prompt for one operation. The fixed part comes first (shared prefix)."""
    op = OPERATIONS[op_name]
    intro = _BREADTH_INTRO if op.kind == "breadth" else _DEPTH_INTRO
    parts = [intro, f"How to rewrite it: {op.task}"]
    if op.example:
        parts.append(op.example)
    fixed = "\n\n".join(parts)
    return f"{fixed}\n\n{PARENT_MARKER}\n{parent_instruction.strip()}\n\n{CHILD_MARKER}\n"


def prompt_prefix(op_name: str) -> str:
    """The fixed text every prompt of this operation starts with."""
    return build_prompt(op_name, "\x00").split("\x00", 1)[0]


# ---------------------------------------------------------------------------- cleaning

_HEADER = re.compile(
    r"(?im)^\s*(?:#+\s*|\*\*)?(?:the\s+)?(?:new|rewritten|created|evolved|modified|revised)\s+"
    r"(?:instruction|prompt|task|question)\s*(?:#+|\*\*)?\s*:?\s*(?:\*\*)?\s*$"
    r"|^\s*(?:#+\s*|\*\*)?(?:the\s+)?(?:new|rewritten|created|evolved|modified|revised)\s+"
    r"(?:instruction|prompt|task|question)\s*(?:#+|\*\*)?\s*:\s*(?:\*\*)?"
)
_PREAMBLE = re.compile(
    r"(?i)^\s*(?:sure|certainly|of course|okay|ok|absolutely|great)\b[^\n]*\n+"
    r"|^\s*(?:here(?:'s| is| are)|below is)\b[^\n]*:\s*\n+"
)
_TRAILER = re.compile(
    r"(?is)\n\s*\n\s*(?:\(?note\b|explanation\b|this (?:new |rewritten |revised )?(?:instruction|prompt|version)\b"
    r"|in this (?:new |rewritten )?(?:instruction|prompt|version)\b|i (?:have|'ve) (?:added|made|rewritten)\b).*$"
)
_QUOTES = [('"', '"'), ("“", "”"), ("'", "'"), ("`", "`")]


def clean_evolved(text: str) -> str:
    """Strip the wrapper text small models put around a rewritten instruction: a leading
    "Sure, here is...", a header echoing our markers, quotes, and a trailing explanation.
    What remains is the instruction; an empty string means there was none."""
    t = text.replace("\r\n", "\n").strip()
    # Keep what follows the last header line ("### New instruction", "Rewritten Prompt:").
    last = None
    for m in _HEADER.finditer(t):
        last = m
    if last is not None:
        t = t[last.end():].strip()
    prev = None
    while prev != t:
        prev = t
        t = _PREAMBLE.sub("", t, count=1).strip()
    t = _TRAILER.sub("", t).strip()
    for a, b in _QUOTES:
        if len(t) > 2 and t.startswith(a) and t.endswith(b) and t.count(a) + (t.count(b) if a != b else 0) <= 2:
            t = t[1:-1].strip()
    return t
