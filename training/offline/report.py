"""`python -m training report`: a Markdown report with plots (needs matplotlib, the [train] extra)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.offline.datasets import data_dir, read_rows
from training.offline.evaluate import evaluate_external, scorer_for


def _plot_curves(out: Path, name: str, y: np.ndarray, s: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    fpr, tpr, _ = roc_curve(y, s)
    axes[0].plot(fpr, tpr)
    axes[0].plot([0, 1], [0, 1], "k:", lw=0.8)
    axes[0].set(title=f"{name}: ROC", xlabel="false positive rate", ylabel="true positive rate")
    p, r, _ = precision_recall_curve(y, s)
    axes[1].plot(r, p)
    axes[1].set(title="precision / recall", xlabel="recall", ylabel="precision")
    bins = np.linspace(0, 1, 41)
    axes[2].hist(s[y == 0], bins=bins, alpha=0.6, label="negative", density=True)
    axes[2].hist(s[y == 1], bins=bins, alpha=0.6, label="positive", density=True)
    axes[2].set(title="score histogram", xlabel="score")
    axes[2].legend()
    observed, predicted = calibration_curve(y, s, n_bins=10, strategy="quantile")
    axes[3].plot(predicted, observed, "o-")
    axes[3].plot([0, 1], [0, 1], "k:", lw=0.8)
    axes[3].set(title="calibration (deciles)", xlabel="mean score", ylabel="share positive")
    fig.tight_layout()
    filename = f"{name}.png"
    fig.savefig(out / filename, dpi=90)
    plt.close(fig)
    return filename


def _fmt(v) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def write_report(model, out: Path | str) -> Path:
    """Score every evaluation set with `model`, write `<out>/report.md`, PNG plots and `metrics.json`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = data_dir()
    ext = evaluate_external(model, root)
    lines = [
        f"# Model report: {model.version} ({model.stages})",
        "",
        f"Stages: `{model.stages}`"
        + (
            " (this artifact also has the optional second stage: MODERATION_SECOND_STAGE=on reports with it)"
            if model.has_second_stage and model.stages == "fast"
            else ""
        ),
        "",
        f"Thresholds: `{json.dumps(model.thresholds)}`",
        "",
        "## Evaluation-only sets (toxicity score)",
        "",
        "| set | n | positives | ROC AUC | AP | precision@review | recall@review |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in (
        "globe_and_mail_toxic_level3",
        "globe_and_mail_toxic_incl_mild",
        "jigsaw_ibm_examples",
        "wiki_identity_nonfuzzed",
        "wiki_identity_fuzzed",
        "bias_madlibs_77k",
        "intersectional_madlibs",
        "bias_madlibs_news_identities",
    ):
        if name not in ext:
            continue
        m = ext[name]
        lines.append(
            f"| {name} | {m['n']} | {m['positives']} | {_fmt(m['roc_auc'])} | "
            f"{_fmt(m['average_precision'])} | {_fmt(m.get('precision'))} | {_fmt(m.get('recall'))} |"
        )
    fox = ext["fox_news_hateful"]
    for label in ("toxicity", "identity_attack"):
        m = fox[label]
        lines.append(
            f"| fox_news_hateful ({label}) | {m['n']} | {m['positives']} | {_fmt(m['roc_auc'])} | "
            f"{_fmt(m['average_precision'])} | {_fmt(m.get('precision'))} | {_fmt(m.get('recall'))} |"
        )

    for set_name in (
        "bias_madlibs_77k",
        "bias_madlibs_news_identities",
        "wiki_identity_nonfuzzed",
        "wiki_identity_fuzzed",
    ):
        if set_name not in ext:
            continue
        lines += [
            "",
            f"## Identity bias ({set_name}): AUC per identity, worst BPSN first",
            "",
            *([f"{ext[set_name]['note']}.", ""] if ext[set_name].get("note") else []),
            "| identity | n | subgroup | BPSN | BNSP |",
            "|---|---|---|---|---|",
        ]
        for term, m in sorted(ext[set_name]["per_identity"].items(), key=lambda kv: kv[1]["bpsn_auc"] or 0):
            lines.append(
                f"| {term} | {m['n']} | {_fmt(m['subgroup_auc'])} | {_fmt(m['bpsn_auc'])} | "
                f"{_fmt(m['bnsp_auc'])} |"
            )

    hc = ext["hatecheck"]
    lines += [
        "",
        f"## HateCheck (ROC AUC {_fmt(hc['roc_auc'])}, accuracy at review threshold "
        f"{_fmt(hc['accuracy_at_review'])})",
        "",
        f"The `identity_attack` score, which HateCheck's label (identity hate) matches, has ROC AUC "
        f"{_fmt(hc.get('identity_attack_roc_auc'))}; the table is for `toxicity`. HateCheck counts abuse of "
        f"individuals, objects and non-protected groups, profanity and reclaimed slurs as not hateful, where "
        f"a toxicity score is meant to be high; without those functionalities (`ABUSIVE_NOT_HATEFUL`, "
        f"{hc.get('n_where_labels_agree', 'n/a')} cases left) `toxicity` has ROC AUC "
        f"{_fmt(hc.get('roc_auc_where_labels_agree'))}.",
        "",
        "| functionality | n | accuracy | mean score |",
        "|---|---|---|---|",
    ]
    for func, m in hc["per_functionality"].items():
        lines.append(f"| {func} | {m['n']} | {_fmt(m['accuracy'])} | {_fmt(m['mean_score'])} |")

    lines += ["", "## Plots", ""]
    rows = read_rows(root / "fox_news_comments_hate" / "data.csv", ["text", "hateful"])
    y = np.array([int(r["hateful"]) for r in rows])
    lines.append(
        "![fox news]("
        + _plot_curves(out, "fox_news_toxicity", y, scorer_for(model, "toxicity")([r["text"] for r in rows]))
        + ")"
    )
    rows = read_rows(
        root / "globe_and_mail_constructiveness_toxicity" / "data.csv", ["text", "toxic_incl_mild"]
    )
    y = np.array([int(r["toxic_incl_mild"]) for r in rows])
    lines.append(
        "![globe and mail]("
        + _plot_curves(
            out, "globe_and_mail_toxicity", y, scorer_for(model, "toxicity")([r["text"] for r in rows])
        )
        + ")"
    )
    (out / "metrics.json").write_text(json.dumps(ext, indent=1) + "\n", encoding="utf-8")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
