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

The head is trained on, and reads when scoring, the mean-pooled vector: the packaged model's modules without
its final Normalize (`training.embedding.without_normalize`), run by `training.embedding.sentence_vectors` in
both places. Until 78cef803 (shipped 2026-11-29) training pooled the vectors itself and the scoring path
L2-normalised them, so that stage's head read vectors it was not trained on; a test now checks that training
and scoring compute the same vector.

Training needs the `embeddings` extra. Cost on the 2-core machine: about 25-48 comments/s for three layers
(batches are grouped by length, so short comments are not padded to the longest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.embedding import MEAN_POOLED, VECTORS, load_layers, sentence_vectors, without_normalize

__all__ = ["FineTuned", "finetune_encoder", "top_layers"]


@dataclass
class FineTuned:
    state: dict[str, np.ndarray]  # encoder parameter name -> float16 array (the trained layers only)
    coef: np.ndarray  # (EMBEDDING_DIM,) float32, over the mean-pooled vector (embedding.MEAN_POOLED)
    intercept: float
    rows: int
    seconds: float
    # With a target matrix (multi-task): the further heads' (k - 1, EMBEDDING_DIM) weights and intercepts,
    # in the order of its columns after the first.
    extra_coef: np.ndarray | None = None
    extra_intercepts: np.ndarray | None = None


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
    vector: str = MEAN_POOLED,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> FineTuned:
    """Fine-tune the top `layers` encoder layers of `model` (a sentence-transformers MiniLM, changed in place)
    and a linear head on its `vector`s (MEAN_POOLED: `without_normalize(model)`; NORMALISED: `model`'s own
    L2-normalised output; the stage must read the same: `SecondStage.vector`), for one epoch over `texts`
    with soft `targets` in [0, 1] and per-row `weights`. The trained layers are rounded to float16 and loaded
    back into `model`, so what is measured afterwards is exactly what ships.

    `targets` may be a matrix (n_rows, k): one linear head per column, trained together with the layers (the
    loss is the sum of the heads' weighted losses); NaN means the row says nothing about that column. The
    first column's head is `coef`/`intercept`, the others' `extra_coef`/`extra_intercepts`."""
    import torch

    y_mat = np.asarray(targets, dtype=np.float64)
    y_mat = y_mat.reshape(len(y_mat), -1)
    if len(texts) != len(y_mat) or len(texts) != len(weights):
        raise ValueError("texts, targets and weights must have the same length")
    k = y_mat.shape[1]
    if not len(texts):
        raise ValueError("no rows to fine-tune on")
    if vector not in VECTORS:
        raise ValueError(f"vector must be one of {VECTORS}, got {vector!r}")
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = model[0].auto_model
    # shares the modules: training it trains `model`
    pooled_model = without_normalize(model) if vector == MEAN_POOLED else model
    n_total = encoder.config.num_hidden_layers
    trainable = set(top_layers(n_total, layers))
    prefixes = tuple(f"encoder.layer.{i}." for i in sorted(trainable))
    params = []
    for name, p in encoder.named_parameters():
        p.requires_grad = name.startswith(prefixes)
        if p.requires_grad:
            params.append(p)
    head = torch.nn.Linear(encoder.config.hidden_size, k)
    torch.nn.init.zeros_(head.weight)
    # Start at the base rate: one epoch of small steps cannot move a bias from 0 (probability 0.5) far enough,
    # and a head left near 0.5 pushes every blended score up (measured: neutral news sentences at 0.28-0.33).
    w_arr = np.asarray(weights, dtype=np.float64)
    known = ~np.isnan(y_mat)
    if not known.any(axis=0).all():
        raise ValueError("every target column needs at least one known row")
    priors = []
    for c in range(k):
        w_c, y_c = w_arr[known[:, c]], y_mat[known[:, c], c]
        priors.append(float(np.clip((w_c * y_c).sum() / max(w_c.sum(), 1e-12), 1e-4, 1 - 1e-4)))
    with torch.no_grad():
        head.bias.copy_(torch.tensor([np.log(p / (1 - p)) for p in priors], dtype=torch.float32))
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
    y_all = torch.tensor(np.nan_to_num(y_mat, nan=0.0).astype(np.float32))
    # a row's weight for each column, 0 where the row says nothing about it
    w_all = torch.tensor((w_arr[:, None] * known).astype(np.float32))
    pooled_model.train()
    seen, loss_sum = 0, 0.0
    for step, batch in enumerate(batches, 1):
        logits = head(sentence_vectors(pooled_model, [texts[i] for i in batch]))
        idx = torch.from_numpy(batch)
        w_batch = w_all[idx]
        # each column's weighted mean loss over the rows that know it, summed over the columns
        per_column = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y_all[idx], weight=w_batch, reduction="none"
        ).sum(dim=0) / w_batch.sum(dim=0).clamp(min=1e-9)
        loss = per_column.sum()
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
    model.eval()
    state = {
        name: tensor.detach().to(torch.float16).numpy().copy()
        for name, tensor in encoder.state_dict().items()
        if name.startswith(prefixes)
    }
    load_layers(model, state)
    weight, bias = head.weight.detach().numpy().astype(np.float32), head.bias.detach().numpy()
    return FineTuned(
        state=state,
        coef=weight[0],
        intercept=float(bias[0]),
        rows=len(texts),
        seconds=round(time.perf_counter() - started, 1),
        extra_coef=weight[1:] if k > 1 else None,
        extra_intercepts=bias[1:].astype(np.float64) if k > 1 else None,
    )
