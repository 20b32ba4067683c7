"""TRL's loss on the CPU: a plain-torch stand-in for the one GPU kernel that TRL 1.15's SFTTrainer needs.

Run as: (library module; trainer.py swaps it in while a model on the CPU trains)

TRL 1.15 (the newest that the pinned Unsloth accepts) computes the SFT loss with a "fused LM head":
the output layer runs only on the positions that carry a label, and a Triton kernel folds each
tile of logits into log-probabilities (`trl.kernels.ChunkedLogProbFunction`). Triton kernels run
on GPUs only, and the CPU build of torch has no Triton at all, so on a CPU that name is None and
the first loss fails. TRL 1.16 added a plain-torch path for this; here it is, for 1.15: the same
inputs and outputs (per-token log-probability of the label, and, without gradient, the entropy,
log sum p^2, mean logit and whether the label is the argmax, which TRL logs), computed on the
same labelled positions. Everything else (batches, loss normalisation, DDP, logging) stays TRL's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class TorchLogProbs:
    """`ChunkedLogProbFunction.apply`'s signature, in autograd-tracked torch ops."""

    @staticmethod
    def apply(hidden: Any, weight: Any, bias: Any, targets: Any, temperature: float, chunk_size: int,
              final_logit_softcapping: float | None = None, logit_scale: float = 1.0,
              outputs: tuple[str, ...] = ("log_probs",)) -> tuple[Any, Any, Any, Any, Any]:
        import torch
        import torch.nn.functional as F

        z = F.linear(hidden, weight, bias).float() * logit_scale
        if final_logit_softcapping is not None:
            z = final_logit_softcapping * torch.tanh(z / final_logit_softcapping)
        z = z / temperature
        log_z = torch.logsumexp(z, dim=-1)
        log_probs = z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_z
        entropy = log_sum_sq = mean = top1 = None
        with torch.no_grad():  # SFT only logs these
            if "entropy" in outputs:
                entropy = log_z - (torch.softmax(z, dim=-1) * z).sum(-1)
            if "log_sum_sq_probs" in outputs:
                log_sum_sq = torch.logsumexp(2 * z, dim=-1) - 2 * log_z
            if "mean_logits" in outputs:
                mean = z.mean(-1)
            if "is_top1" in outputs:
                top1 = z.argmax(-1) == targets
        return log_probs, entropy, log_sum_sq, mean, top1


@contextlib.contextmanager
def log_probs_on(device: str) -> Iterator[None]:
    """While a model on `device` trains: TRL's own kernel on a GPU, the torch stand-in on the CPU."""
    from trl.trainer import utils

    if device != "cpu":
        yield
        return
    kernel = utils._ChunkedLogProbFunction
    setattr(utils, "_ChunkedLogProbFunction", TorchLogProbs)  # noqa: B010 (a module global TRL reads per call)
    try:
        yield
    finally:
        setattr(utils, "_ChunkedLogProbFunction", kernel)  # noqa: B010
