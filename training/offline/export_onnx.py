"""Export a second stage's encoder to ONNX (offline; needs torch, the `embeddings` extra and `onnx`).

    python -m training export-onnx --model models/default.joblib --out var/models/candidate.joblib

The graph is what the torch path computes (`training.embedding.finetuned_embedder`): the packaged
all-MiniLM-L6-v2 with the stage's fine-tuned layers loaded over it (`load_layers`), mean pooling over the
attention mask, and the L2 normalisation when the stage reads NORMALISED vectors (`stage.vector`; the shipped
78cef803 stage does). It is exported with eager attention (so onnxruntime's BERT optimiser can fuse attention,
embeddings and layer norms; the SDPA graph does not fuse) and, for `int8`, dynamically quantised
(`onnxruntime.quantization.quantize_dynamic`, int8 weights with a scale per output column, activations
quantised per run; `source["quantization"]` says so; artifacts exported before 2026-12-04 have one scale per
matrix). The fp32 graph is about 90 MB (the word-piece embeddings alone are 47 MB), too big for a 50 MB
artifact; int8 is about 23 MB.

`compare` measures the ONNX encoder against torch on real comments (the blended toxicity's differences and
the blended AUC on news sites' comments): `--precision auto` keeps int8 only if no AUC moves by 0.005 or more.
The new artifact is written by `pipeline.save_model` (new version, sha256 and sidecar) with the same fast
stage, head, band and thresholds; only `SecondStage.onnx` is added.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from training.embedding import (
    MAX_SEQ_LENGTH,
    NORMALISED,
    VECTORS,
    EmbeddingUnavailable,
    SecondStage,
    embedder_identity,
    load_layers,
    new_sentence_model,
    state_digest,
    tokenizer_json,
)
from training.onnx_encoder import FP32, INT8, PRECISIONS, OnnxEmbedder, OnnxEncoder
from training.runtime import ModelArtifact

__all__ = ["AUC_TOLERANCE", "compare", "export_encoder", "export_model", "stage_model"]

QUANTIZATION = "dynamic int8, a scale per output column"
AUC_TOLERANCE = 0.005  # int8 is kept only if no comparison set's blended AUC moves by this much
OPSET = 17
# (name, folder, file, label column): other sites' comments, which the stage is for
COMPARISON_SETS = (
    ("globe_and_mail_level3", "globe_and_mail_constructiveness_toxicity", "data.csv", "toxic"),
    ("fox_news_hateful", "fox_news_comments_hate", "data.csv", "hateful"),
)
DIFFERENCE_SET = ("civil_comments_samples_4k", "civil_comments_samples_4k", "data.csv", None)


def stage_model(stage: SecondStage):
    """The sentence-transformers model the torch path scores with: the packaged base (checked against the
    stage's pinned sha256) with the stage's fine-tuned layers loaded, in eval mode."""
    stage.check_identity(embedder_identity())
    model = new_sentence_model()
    if stage.finetuned:
        load_layers(model, stage.encoder_state)
    model.eval()
    return model


def _pooling_module(encoder, normalise: bool):
    import torch

    class Pooled(torch.nn.Module):
        """token ids + mask -> mean of the token vectors over the mask (-> L2-normalised)."""

        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' Pooling
            if normalise:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)  # its Normalize module
            return pooled

    return Pooled().eval()


def export_encoder(stage: SecondStage, precision: str = INT8, model=None) -> OnnxEncoder:
    """The `OnnxEncoder` of `stage` at `precision` (INT8 or FP32). `model`: the stage's sentence-transformers
    model if already built (`stage_model(stage)`). Raises `EmbeddingUnavailable` without the `embeddings`
    extra or for a stage trained on another base model."""
    import onnx
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    vector = stage.vector
    if vector not in VECTORS:
        raise EmbeddingUnavailable(f"the second stage reads {vector!r} vectors; this version knows {VECTORS}")
    model = model if model is not None else stage_model(stage)
    transformer = model[0]
    encoder = transformer.auto_model
    previous = encoder.config._attn_implementation
    encoder.set_attn_implementation("eager")  # SDPA exports as a graph the BERT optimiser cannot fuse
    try:
        with tempfile.TemporaryDirectory() as tmp:
            raw, fused, final = (Path(tmp) / name for name in ("raw.onnx", "fused.onnx", "final.onnx"))
            example = transformer.tokenizer(
                ["an example comment", "a second one"], padding=True, return_tensors="pt"
            )
            with torch.no_grad():
                torch.onnx.export(
                    _pooling_module(encoder, normalise=vector == NORMALISED),
                    (example["input_ids"], example["attention_mask"]),
                    str(raw),
                    input_names=["input_ids", "attention_mask"],
                    output_names=["sentence_embedding"],
                    dynamic_axes={
                        "input_ids": {0: "batch", 1: "tokens"},
                        "attention_mask": {0: "batch", 1: "tokens"},
                        "sentence_embedding": {0: "batch"},
                    },
                    opset_version=OPSET,
                    dynamo=False,  # the TorchScript exporter: the dynamo one needs onnxscript
                )
            config = encoder.config
            options = FusionOptions("bert")
            # onnxruntime's SkipLayerNormalization kernel took 30% of the int8 graph's time (1.32, this
            # machine): a plain Add + LayerNormalization is 26% faster overall (training.onnx_encoder also
            # keeps onnxruntime from fusing them again when it loads the graph)
            options.enable_skip_layer_norm = False
            options.enable_bias_skip_layer_norm = False
            optimised = optimize_model(
                str(raw),
                model_type="bert",
                num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size,
                optimization_options=options,
            )
            optimised.save_model_to_file(str(fused))
            if precision == INT8:
                quantize_dynamic(
                    str(fused),
                    str(final),
                    weight_type=QuantType.QInt8,
                    # a scale per output column, not one per matrix: half the error of per-tensor scales
                    # against torch (mean |diff| of the blend 0.023 -> 0.012 on a restaged stage), same speed
                    per_channel=True,
                    # the fused ops are onnxruntime's own, which ONNX shape inference does not know
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            else:
                final = fused
            graph = final.read_bytes()
    finally:
        encoder.set_attn_implementation(previous)
    identity = stage.embedder or embedder_identity()
    source = {
        "weights_sha256": str(identity.get("weights_sha256", "")),
        "finetuned_sha256": state_digest(stage.encoder_state) if stage.finetuned else "",
        "exported_with": f"torch {torch.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, opset {OPSET}",
    }
    if precision == INT8:
        source["quantization"] = QUANTIZATION
    return OnnxEncoder(
        model=graph,
        tokenizer=tokenizer_json(),
        vector=vector,
        precision=precision,
        max_length=MAX_SEQ_LENGTH,
        batch_size=1 if precision == INT8 else 32,
        source=source,
    )


def _rows(name: str, folder: str, file: str, label: str | None) -> tuple[list[str], list[int] | None]:
    from training.offline.datasets import data_dir, read_rows

    columns = ["text"] + ([label] if label else [])
    rows = read_rows(data_dir() / folder / file, columns)
    return [r["text"] for r in rows], ([int(r[label]) for r in rows] if label else None)


def compare(
    artifact: ModelArtifact,
    encoders: dict[str, OnnxEncoder],
    torch_model=None,
    limit: int | None = None,
    progress: Callable[[str], None] = print,
) -> dict:
    """Blended toxicity of the artifact's stage through torch and through each of `encoders` (name ->
    encoder), on the civil-comments sample (max / mean absolute difference from torch) and on the
    `COMPARISON_SETS` (ROC AUC of the blend). `limit`: rows per set (None: all)."""
    from sklearn.metrics import roc_auc_score

    from training.embedding import stage_embedder

    stage: SecondStage = artifact._payload["second_stage"]
    j = artifact.labels.index(stage.label)
    torch_model = torch_model if torch_model is not None else stage_model(stage)
    embedders = {"torch": stage_embedder(torch_model, stage, {})}
    embedders.update({name: OnnxEmbedder(enc, {}) for name, enc in encoders.items()})
    out: dict = {"sets": {}}
    for name, folder, file, label in (DIFFERENCE_SET, *COMPARISON_SETS):
        texts, y = _rows(name, folder, file, label)
        if limit:
            texts, y = texts[:limit], (y[:limit] if y else None)
        normalised = artifact._normalizer.transform(texts)
        fast = artifact._heads.predict_proba(artifact._matrix_of_normalised(normalised))[:, j]
        band = np.flatnonzero(stage.in_band(fast))
        in_band = [normalised[i] for i in band]
        blended = {}
        for which, embedder in embedders.items():
            started = time.perf_counter()
            blended[which] = stage.blend(fast, embedder.encode(in_band))
            progress(f"{name}: {which} {len(in_band)} rows in band, {time.perf_counter() - started:.1f}s")
        entry: dict = {"n": len(texts), "in_band": len(band)}
        for which, scores in blended.items():
            if which != "torch":
                diff = np.abs(scores - blended["torch"])
                entry[f"{which}_max_abs_diff"] = float(diff.max())
                entry[f"{which}_mean_abs_diff"] = float(diff.mean())
            if y is not None:
                entry[f"{which}_auc"] = round(float(roc_auc_score(y, scores)), 5)
        out["sets"][name] = entry
    return out


def export_model(
    artifact: ModelArtifact,
    out: Path | str,
    precision: str = "auto",
    check: bool = True,
    progress: Callable[[str], None] = print,
) -> ModelArtifact:
    """Write `artifact` with its second stage's encoder as ONNX added (same fast stage, head, band and
    thresholds) to `out` through `pipeline.save_model`. `precision`: INT8, FP32 or "auto" (int8 if the
    comparison keeps every AUC within `AUC_TOLERANCE` of torch's, else fp32; needs `check`). `check`: run
    `compare` and record it in the sidecar (`metrics.second_stage.onnx`). Returns the saved, reloaded
    model."""
    from training.offline.pipeline import save_model

    if precision not in (*PRECISIONS, "auto"):
        raise ValueError(f"precision must be one of {(*PRECISIONS, 'auto')}, got {precision!r}")
    if precision == "auto" and not check:
        raise ValueError("precision 'auto' chooses from the comparison: it needs check=True")
    stage = artifact._payload.get("second_stage")
    if stage is None:
        raise EmbeddingUnavailable(f"model {artifact.version} has no second stage to export")
    started = time.perf_counter()
    model = stage_model(stage)
    wanted = PRECISIONS if precision == "auto" else (precision,)
    encoders = {p: export_encoder(stage, p, model) for p in wanted}
    progress(f"exported {', '.join(f'{p} ({len(e.model) / 1e6:.1f} MB)' for p, e in encoders.items())}")
    report: dict = {}
    if check:
        report = compare(artifact, encoders, model, progress=progress)
    chosen = precision
    if precision == "auto":
        moved = max(
            abs(entry[f"{INT8}_auc"] - entry["torch_auc"])
            for entry in report["sets"].values()
            if "torch_auc" in entry
        )
        chosen = INT8 if moved < AUC_TOLERANCE else FP32
        progress(f"int8 moves the blended AUC by up to {moved:.4f}: keeping {chosen}")
    encoder = encoders[chosen]
    payload = dict(artifact._payload, second_stage=dataclasses.replace(stage, onnx=encoder))
    metadata = {k: v for k, v in artifact.metadata.items()}
    metrics = dict(metadata.get("metrics", {}))
    metrics["second_stage"] = {
        **metrics.get("second_stage", {}),
        "onnx": {
            "precision": encoder.precision,
            "bytes": len(encoder.model),
            "sha256": encoder.sha256,
            "batch_size": encoder.batch_size,
            "source": dict(encoder.source),
            "from_model": artifact.version,
            "export_seconds": round(time.perf_counter() - started, 1),
            "comparison": report,
            "tokenizers": importlib_metadata.version("tokenizers"),
        },
    }
    metadata["metrics"] = metrics
    return save_model(ModelArtifact(payload, metadata), out)
