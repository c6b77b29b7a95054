"""Fine-tuning the second stage's encoder (all-MiniLM-L6-v2) as a toxicity classifier.

A logistic head on frozen sentence embeddings learns little that the fast stage does not already know: the
sentence vectors were trained for similarity, not for tone. Training the top encoder layers with the head
(mean-pooled token vectors -> one linear unit, soft targets, the training weights, one epoch of AdamW) moves
comments from other sites most: measured on the Fox News set, 0.62 for the frozen head's blend against 0.66
for three fine-tuned layers on their own.

Only the fine-tuned layers are kept (`FineTuned.state`, float16 numpy arrays named as the encoder's
parameters, about 3.5 MB a layer); at run time they are loaded over the packaged base model
(`training.embedding.finetuned_embedder`), whose weights the artifact pins by sha256. The artifact holds the
arrays itself, so its own sha256 covers them and unpickling still needs no torch.

Known defect (found in review after 78cef803 shipped): the head is trained here on the mean-pooled vector,
but the packaged model ends in a Normalize module, so at scoring time (and in every evaluation of the stage)
the head reads the L2-normalised vector. The shipped figures and thresholds were measured that way, so they
describe what ships; the logits are shrunk toward the head's bias, which compresses the scores. The fix is one
definition of the vector for both (the model's own modules, with or without Normalize) and a retrain.

Training needs the `embeddings` extra. Cost on the 2-core machine: about 25-40 comments/s for three layers
(batches are grouped by length, so short comments are not padded to the longest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.embedding import MAX_SEQ_LENGTH, load_layers

__all__ = ["FineTuned", "finetune_encoder", "top_layers"]


@dataclass
class FineTuned:
    state: dict[str, np.ndarray]  # encoder parameter name -> float16 array (the trained layers only)
    coef: np.ndarray  # (EMBEDDING_DIM,) float32, trained on the mean-pooled vector before L2 normalisation
    intercept: float
    rows: int
    seconds: float


def top_layers(n_layers_total: int, trainable: int) -> list[int]:
    """Indexes of the top `trainable` encoder layers."""
    if not 1 <= trainable <= n_layers_total:
        raise ValueError(f"layers to fine-tune must be in 1..{n_layers_total}, got {trainable}")
    return list(range(n_layers_total - trainable, n_layers_total))


def _length_grouped_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar-length rows: shuffle, sort within windows of 50 batches, shuffle the
    batches."""
    order = rng.permutation(len(lengths))
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def finetune_encoder(
    model,
    texts: list[str],
    targets: np.ndarray,
    weights: np.ndarray,
    *,
    layers: int = 3,
    lr: float = 4e-5,
    head_lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> FineTuned:
    """Fine-tune the top `layers` encoder layers of `model` (a sentence-transformers MiniLM, changed in place)
    and a linear head on mean-pooled token vectors, for one epoch over `texts` with soft `targets` in [0, 1]
    and per-row `weights`. The trained layers are rounded to float16 and loaded back into `model`, so what is
    measured afterwards is exactly what ships."""
    import torch

    if len(texts) != len(targets) or len(texts) != len(weights):
        raise ValueError("texts, targets and weights must have the same length")
    if not len(texts):
        raise ValueError("no rows to fine-tune on")
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = model[0].auto_model
    tokenizer = model.tokenizer
    n_total = encoder.config.num_hidden_layers
    trainable = set(top_layers(n_total, layers))
    prefixes = tuple(f"encoder.layer.{i}." for i in sorted(trainable))
    params = []
    for name, p in encoder.named_parameters():
        p.requires_grad = name.startswith(prefixes)
        if p.requires_grad:
            params.append(p)
    head = torch.nn.Linear(encoder.config.hidden_size, 1)
    torch.nn.init.zeros_(head.weight)
    # Start at the base rate: one epoch of small steps cannot move a bias from 0 (probability 0.5) far enough,
    # and a head left near 0.5 pushes every blended score up (measured: neutral news sentences at 0.28-0.33).
    w_arr, y_arr = np.asarray(weights, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    prior = float(np.clip((w_arr * y_arr).sum() / max(w_arr.sum(), 1e-12), 1e-4, 1 - 1e-4))
    torch.nn.init.constant_(head.bias, float(np.log(prior / (1 - prior))))
    optimiser = torch.optim.AdamW(
        [{"params": params, "lr": lr}, {"params": head.parameters(), "lr": head_lr}], weight_decay=0.01
    )
    lengths = np.array([len(t) for t in texts])
    batches = _length_grouped_batches(lengths, batch_size, rng)
    steps = len(batches)
    warmup = max(1, steps // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    y_all = torch.tensor(np.asarray(targets, dtype=np.float32))
    w_all = torch.tensor(np.asarray(weights, dtype=np.float32))
    encoder.train()
    seen, loss_sum = 0, 0.0
    for step, batch in enumerate(batches, 1):
        tokens = tokenizer(
            [texts[i] for i in batch],
            padding=True,
            truncation=True,
            max_length=MAX_SEQ_LENGTH,
            return_tensors="pt",
        )
        hidden = encoder(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        logits = head(pooled).squeeze(-1)
        idx = torch.from_numpy(batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y_all[idx], weight=w_all[idx], reduction="sum"
        ) / w_all[idx].sum().clamp(min=1e-9)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params + list(head.parameters()), 1.0)
        optimiser.step()
        schedule.step()
        seen += len(batch)
        loss_sum += float(loss.detach())
        if step % 50 == 0 or step == steps:
            rate = seen / max(time.perf_counter() - started, 1e-9)
            progress(
                f"fine-tuning {layers} layers: {seen}/{len(texts)} rows ({rate:.0f}/s), "
                f"loss {loss_sum / step:.4f}"
            )
    encoder.eval()
    state = {
        name: tensor.detach().to(torch.float16).numpy().copy()
        for name, tensor in encoder.state_dict().items()
        if name.startswith(prefixes)
    }
    load_layers(model, state)
    return FineTuned(
        state=state,
        coef=head.weight.detach().numpy()[0].astype(np.float32),
        intercept=float(head.bias.detach()[0]),
        rows=len(texts),
        seconds=round(time.perf_counter() - started, 1),
    )
