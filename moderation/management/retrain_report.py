"""The decision and the HTML report of ``manage.py retrain``: whether to promote the candidate, and why.

Rule: promote only if the candidate ranks the site's hold-out better than the active model with confidence
(the lower end of the 95% interval of the toxicity ROC AUC gain, DeLong's paired test, is above 0) and it
would not flag (hold or reject) more of the site's recent comments than the site's review budget allows (or,
when the active model is already over the budget, no more than the active model does).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from html import escape
from pathlib import Path
from typing import Any


def recommend(comparison: dict | None, shares: dict[str, Any]) -> tuple[bool, list[str]]:
    """(promote?, reasons) from the toxicity comparison on the hold-out (``python -m training compare
    --json``'s result, or None when it could not run) and the flagged shares (``candidate``, ``active``,
    ``budget``)."""
    reasons: list[str] = []
    gain_ok = False
    difference = (comparison or {}).get("differences", {}).get("baseline")
    if comparison is None:
        reasons.append("the candidate could not be compared on the hold-out (see the log above)")
    elif difference is None:
        reasons.append(
            f"the hold-out has {comparison['n']} rows with {comparison['positives']} toxic: both kinds are "
            "needed to measure ranking; export more labels (a longer --since) or a larger --holdout-share"
        )
    else:
        lo, hi = difference["ci95"]
        gain = difference["difference"]
        gain_ok = lo > 0
        reasons.append(
            f"toxicity ROC AUC gain on the hold-out {gain:+.4f}, 95% interval [{lo:+.4f}, {hi:+.4f}] "
            f"(p = {difference['p_value']:.2g}, {comparison['n']} rows): "
            + ("above 0" if gain_ok else "not clearly above 0")
        )
    candidate, active, budget = shares.get("candidate"), shares.get("active"), shares["budget"]
    share_ok = False
    if candidate is None:
        reasons.append("no comments to measure the flagged share on")
    else:
        allowed = max(budget, active if active is not None else 0.0)
        share_ok = candidate <= allowed
        than_active = "" if active is None else f"active model {active:.1%}, "
        reasons.append(
            f"it would flag {candidate:.1%} of {shares['n']} {shares['on']} ({than_active}"
            f"review budget {budget:.0%}): "
            + ("within the budget" if share_ok else f"over the {allowed:.1%} allowed")
        )
    return gain_ok and share_ok, reasons


def roc_plot_png(scores_csv: Path) -> bytes | None:
    """A PNG of the ROC curves of every scorer in ``scores_csv`` (``compare --scores-out``), or None without
    matplotlib (the ``train`` extra) or with one class only."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.metrics import roc_auc_score, roc_curve
    except ImportError:
        return None
    with open(scores_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    y = [int(r["label"]) for r in rows]
    if len(set(y)) < 2:
        return None
    names = {"ours": "candidate", "baseline": "active model", "alt_profanity_check": "alt-profanity-check"}
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for column, name in names.items():
        if column not in rows[0]:
            continue
        s = [float(r[column]) for r in rows]
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate (civil comments flagged)")
    ax.set_ylabel("true positive rate (toxic comments caught)")
    ax.set_title(f"Toxicity on the site's hold-out ({len(y)} comments)")
    ax.legend(loc="lower right")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _auc(result: dict, name: str) -> list[Any]:
    r = result.get(name) or {}
    if r.get("roc_auc") is None:
        return [name, "n/a (one class)", "", ""]
    lo, hi = r["roc_auc_ci95"]
    return [name, f"{r['roc_auc']:.4f}", f"[{lo:.4f}, {hi:.4f}]", f"{r['average_precision']:.4f}"]


def write_report(out: Path, summary: dict[str, Any], png: bytes | None) -> Path:
    """Write ``out`` (HTML) from ``summary`` (what ``retrain`` did: see its ``report.json``) and the ROC
    plot ``png``; every value is escaped."""
    promote, reasons = summary["promote"], summary["reasons"]
    verdict = "Promote the candidate" if promote else "Keep the active model"
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>Retraining report: {escape(summary['site'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
        ".yes{color:#060}.no{color:#a00}</style>",
        f"<h1>Retraining report: site {escape(summary['site'])}</h1>",
        f"<p>Candidate <code>{escape(summary['candidate'] or '-')}</code> against the active model "
        f"<code>{escape(summary['active'])}</code>, {escape(summary['finished_at'])}.</p>",
        f"<h2 class='{'yes' if promote else 'no'}'>{escape(verdict)}</h2>",
        "<ul>" + "".join(f"<li>{escape(r)}</li>" for r in reasons) + "</ul>",
        "<p>Rule: promote only if the 95% interval of the toxicity ROC AUC gain on the hold-out is above 0 "
        "and the candidate flags no more of the site's recent comments than its review budget (or than the "
        "active model, when that is already over it).</p>",
    ]
    if promote and summary.get("candidate"):
        parts.append(
            f"<p>Next: watch <code>manage.py shadow --report {escape(summary['candidate'])}</code>, then "
            f"<code>manage.py promote {escape(summary['candidate'])}</code> "
            "(<code>manage.py rollback</code> undoes it).</p>"
        )
    parts.append("<h2>Labels</h2>")
    parts.append(
        _table(
            [
                [name, n, ", ".join(f"{k} {v}" for k, v in sources.items())]
                for name, n, sources in summary["files"]
            ],
            ["file", "rows", "by source"],
        )
    )
    parts.append(
        f"<p>The hold-out holds the comments decided at or after {escape(summary['cutoff'] or '-')}; "
        f"{summary['repeats']} hold-out rows whose text is also in the training file were left out.</p>"
    )
    for task, result in summary["comparisons"].items():
        parts.append(f"<h2>{escape(task)} on the hold-out</h2>")
        if result is None:
            parts.append("<p>Not compared (see the command's output).</p>")
            continue
        parts.append(
            f"<p>{result['n']} rows, {result['positives']} positive; {result.get('skipped_rows', 0)} rows "
            f"say nothing about {escape(task)} and were skipped.</p>"
        )
        rows = [_auc(result, name) for name in ("ours", "baseline", "alt_profanity_check")]
        rows[0][0], rows[1][0] = "candidate", "active model"
        parts.append(_table(rows, ["model", "ROC AUC", "95% interval", "average precision"]))
        for name, d in result.get("differences", {}).items():
            lo, hi = d["ci95"]
            other = {"baseline": "active model", "alt_profanity_check": "alt-profanity-check"}.get(name, name)
            parts.append(
                f"<p>candidate − {escape(other)}: {d['difference']:+.4f} ROC AUC, 95% interval "
                f"[{lo:+.4f}, {hi:+.4f}], p = {d['p_value']:.2g} (DeLong, paired)</p>"
            )
        if task == "toxicity":
            if png:
                parts.append(
                    f"<img alt='ROC curves' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                )
            else:
                parts.append(
                    "<p>No ROC plot (matplotlib is in the train extra, and both classes are needed).</p>"
                )
    shares = summary["shares"]
    parts.append("<h2>Workload</h2>")
    parts.append(
        f"<p>Measured on {shares['n']} {escape(shares['on'])} at the site's thresholds (each model's, "
        "with the site's overrides).</p>"
    )
    parts.append(
        _table(
            [
                [name, "-" if shares.get(key) is None else f"{shares[key]:.1%}"]
                for name, key in (
                    ("candidate", "candidate"),
                    ("active model", "active"),
                    ("review budget", "budget"),
                )
            ],
            ["", "flagged (held or rejected)"],
        )
    )
    dropped = summary.get("rows_dropped") or {}
    parts.append("<h2>Rows training left out</h2>")
    parts.append(
        _table(
            [
                [name, ", ".join(f"{n} {reason}" for reason, n in reasons.items())]
                for name, reasons in dropped.items()
                if reasons
            ]
            or [["-", "none"]],
            ["source", "rows and why"],
        )
    )
    parts.append("<h2>Steps</h2>")
    parts.append(
        _table([[step, f"{seconds:.0f} s"] for step, seconds in summary["seconds"].items()], ["step", "time"])
    )
    parts.append(
        "<details><summary>Everything (JSON)</summary>"
        f"<pre>{escape(json.dumps(summary, indent=1))}</pre></details>"
    )
    out.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return out
