"""Replay a site's logged Perspective scores against our model, to pick our thresholds for the site's own.

    python manage.py perspective_compare --data perspective_log.csv
    python manage.py perspective_compare --data log.csv --attribute INSULT --at 0.7 --at 0.9 --json

The CSV has a header with a ``text`` column and a ``score`` column (Perspective's summary score for
``--attribute``, default TOXICITY); ``--text-column`` / ``--score-column`` name other columns. For each
Perspective threshold the site used (``--at``, default 0.5 0.7 0.8 0.9), it prints our threshold that flags
the same number of comments (volume-matched), how many of Perspective's flags ours shares at that threshold,
and the rank correlation over all rows. Nothing is stored.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from moderation.policy import ATTRIBUTE_LABELS
from moderation.scoring import ModelUnavailable, current_model

BATCH = 256


def read_rows(path: Path, text_column: str, score_column: str) -> tuple[list[str], list[float]]:
    """(texts, Perspective scores) from the CSV. Raises CommandError naming the row and the column."""
    texts, scores = [], []
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(f"--data {path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {text_column, score_column} - set(reader.fieldnames or [])
        if missing:
            raise CommandError(
                f"--data {path}: no column {', '.join(sorted(missing))} in the header "
                f"{reader.fieldnames}; use --text-column / --score-column"
            )
        for line, row in enumerate(reader, start=2):
            try:
                score = float(row[score_column])
            except (TypeError, ValueError):
                raise CommandError(
                    f"--data {path} line {line}: {score_column}={row[score_column]!r} is not a number"
                ) from None
            if not 0.0 <= score <= 1.0:
                raise CommandError(f"--data {path} line {line}: {score_column}={score} is outside [0, 1]")
            if (row[text_column] or "").strip():
                texts.append(row[text_column])
                scores.append(score)
    if not texts:
        raise CommandError(f"--data {path}: no rows with text")
    return texts, scores


def _ranks(values: np.ndarray) -> np.ndarray:
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    # average the ranks of ties, so constant columns do not look correlated
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def compare(theirs: list[float], ours: list[float], at: list[float]) -> dict:
    """Volume-matched thresholds: for each Perspective threshold t, our threshold flagging as many comments as
    Perspective did at t, and the share of Perspective's flags ours also flags there."""
    p, o = np.asarray(theirs, dtype=float), np.asarray(ours, dtype=float)
    rp, ro = _ranks(p), _ranks(o)
    spearman = float(np.corrcoef(rp, ro)[0, 1]) if rp.std() and ro.std() else float("nan")
    rows = []
    descending = np.sort(o)[::-1]
    for t in at:
        flagged = p >= t
        k = int(flagged.sum())
        if k == 0:
            rows.append(
                {
                    "perspective_threshold": t,
                    "perspective_flags": 0,
                    "our_threshold": None,
                    "our_flags": 0,
                    "shared": 0,
                    "shared_share": None,
                }
            )
            continue
        ours_at = float(descending[k - 1])
        our_flagged = o >= ours_at
        shared = int((flagged & our_flagged).sum())
        rows.append(
            {
                "perspective_threshold": t,
                "perspective_flags": k,
                "our_threshold": round(ours_at, 4),
                "our_flags": int(our_flagged.sum()),
                "shared": shared,
                "shared_share": round(shared / k, 3),
            }
        )
    return {"rows": len(p), "spearman": round(spearman, 3), "thresholds": rows}


class Command(BaseCommand):
    help = "Replay logged Perspective scores (CSV of text + score) against our model and suggest thresholds."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, type=Path, help="CSV with a header: text, score")
        parser.add_argument(
            "--attribute",
            default="TOXICITY",
            choices=sorted(ATTRIBUTE_LABELS),
            help="the Perspective attribute the scores are for (default TOXICITY)",
        )
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--score-column", default="score")
        parser.add_argument(
            "--at",
            type=float,
            action="append",
            default=None,
            help="a Perspective threshold the site used; repeat (default 0.5 0.7 0.8 0.9)",
        )
        parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object")

    def handle(self, *args, data, attribute, text_column, score_column, at, as_json=False, **options):
        at = at or [0.5, 0.7, 0.8, 0.9]
        if any(not 0.0 <= t <= 1.0 for t in at):
            raise CommandError("--at thresholds must be in [0, 1]")
        texts, theirs = read_rows(data, text_column, score_column)
        try:
            model = current_model()
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from None
        label = ATTRIBUTE_LABELS[attribute]
        ours = [row[label] for i in range(0, len(texts), BATCH) for row in model.score(texts[i : i + BATCH])]
        result = {
            "attribute": attribute,
            "label": label,
            "model_version": model.version,
            "our_policy_thresholds": model.thresholds.get(label),
            **compare(theirs, ours, sorted(at)),
        }
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(
            f"{result['rows']} rows · {attribute} → our {label} · model {model.version} · "
            f"Spearman rank correlation {result['spearman']}"
        )
        if result["our_policy_thresholds"]:
            self.stdout.write(f"our policy for {label}: {result['our_policy_thresholds']}")
        self.stdout.write(f"{'Perspective ≥':>14} {'flags':>7} {'ours ≥':>8} {'flags':>7} {'shared':>7}")
        for row in result["thresholds"]:
            ours_at = "-" if row["our_threshold"] is None else f"{row['our_threshold']:.4f}"
            share = "-" if row["shared_share"] is None else f"{row['shared_share']:.0%}"
            self.stdout.write(
                f"{row['perspective_threshold']:>14.2f} {row['perspective_flags']:>7} {ours_at:>8} "
                f"{row['our_flags']:>7} {share:>7}"
            )
