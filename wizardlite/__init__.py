"""wizardlite: Evol-Instruct data and LoRA fine-tuning on one machine, offline.

Stages, one module each: seeds -> evolve -> finetune -> judge.
Run as: wizardlite --help
"""

__version__ = "0.1.0"
