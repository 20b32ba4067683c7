"""Chat-template families and the Ollama Modelfile written beside an exported GGUF.

Run as: (library module, used by `wizardlite finetune`)

The GGUF itself carries the Jinja chat template and the end-of-turn tokens (llama.cpp reads
them). Ollama cannot run Jinja: it needs a Go template and the strings to stop at. Both are
derived here from the family the Jinja template belongs to, recognised by its turn markers. A
family is one entry in FAMILIES; a template of no known family gets only a stop on the EOS
token, and Ollama's own template detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Family:
    name: str
    markers: tuple[str, ...]  # all of these in the Jinja template: it is this family
    end_of_turn: str  # the token that closes an assistant turn; llama.cpp must stop at it
    stops: tuple[str, ...]  # Ollama's stop strings: the end of turn, and the start of a next turn
    go_template: str  # the same layout in Ollama's Go template language


CHATML = Family("chatml", ("<|im_start|>", "<|im_end|>"), "<|im_end|>", ("<|im_end|>", "<|im_start|>"), """\
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
""")

LLAMA3 = Family("llama3", ("<|start_header_id|>", "<|eot_id|>"), "<|eot_id|>",
                ("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"), """\
{{- if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>{{ end }}{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>

""")

# Mistral's instruct format has no system turn: the system text opens the first user turn.
MISTRAL = Family("mistral", ("[INST]", "[/INST]"), "</s>", ("[INST]", "[/INST]", "</s>"), """\
{{- range $i, $m := .Messages }}{{- if eq $m.Role "user" }}[INST] {{ if and $.System (eq $i 0) }}{{ $.System }}

{{ end }}{{ $m.Content }}[/INST]{{- else if eq $m.Role "assistant" }} {{ $m.Content }}</s>{{ end }}{{- end }}""")

# Gemma calls the assistant "model" and, like Mistral, has no system turn.
GEMMA = Family("gemma", ("<start_of_turn>", "<end_of_turn>"), "<end_of_turn>", ("<end_of_turn>", "<start_of_turn>"), """\
{{- range $i, $m := .Messages }}<start_of_turn>{{ if eq $m.Role "assistant" }}model{{ else }}user{{ end }}
{{ if and $.System (eq $i 0) }}{{ $.System }}

{{ end }}{{ $m.Content }}<end_of_turn>
{{ end }}<start_of_turn>model
""")

PHI3 = Family("phi3", ("<|assistant|>", "<|end|>"), "<|end|>", ("<|end|>", "<|user|>", "<|assistant|>", "<|endoftext|>"), """\
{{- if .System }}<|system|>
{{ .System }}<|end|>
{{ end }}{{- range .Messages }}<|{{ .Role }}|>
{{ .Content }}<|end|>
{{ end }}<|assistant|>
""")

FAMILIES: dict[str, Family] = {f.name: f for f in (CHATML, LLAMA3, MISTRAL, GEMMA, PHI3)}


def family_of(template: str | None) -> Family | None:
    """The family of a Jinja chat template, or None for a layout we do not know."""
    for family in FAMILIES.values():
        if template and all(m in template for m in family.markers):
            return family
    return None


def end_of_turn(template: str | None, eos_token: str | None) -> str | None:
    """The token that ends an assistant turn under `template`: its family's, else the EOS."""
    family = family_of(template)
    return family.end_of_turn if family else eos_token


def modelfile_text(gguf_file: str, template: str | None, eos_token: str | None, path: Path) -> str:
    lines = [f"# ollama create my-model -f {path}", f"FROM ./{gguf_file}", ""]
    family = family_of(template)
    if family is not None:
        lines += [f"# chat template family: {family.name}", f'TEMPLATE """{family.go_template}"""']
        lines += [f'PARAMETER stop "{s}"' for s in family.stops]
    else:
        lines += ["# chat template of no known family: Ollama detects one from the GGUF's metadata"]
        if eos_token:
            lines.append(f'PARAMETER stop "{eos_token}"')
    return "\n".join(lines) + "\n"


def write_modelfile(path: Path, gguf_file: str, template: str | None, eos_token: str | None) -> Path:
    """An Ollama Modelfile beside the GGUF: `ollama create NAME -f Modelfile`."""
    path.write_text(modelfile_text(gguf_file, template, eos_token, path), encoding="utf-8")
    return path
