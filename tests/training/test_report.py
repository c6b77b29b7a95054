"""`python -m training report` on a small model: every section the issue asks for, and the plots it links."""

from __future__ import annotations

import re

from tests.training.conftest import small_config
from training.offline.cli import main
from training.offline.pipeline import save_model, train_model


def test_report_has_curves_calibration_bias_audit_and_hatecheck(tmp_path, capsys):
    model = save_model(train_model(small_config(), progress=lambda _: None), tmp_path / "small.joblib")
    out = tmp_path / "report"
    assert main(["report", "--model", str(model.path), "--out", str(out)]) == 0
    assert f"wrote {out / 'report.md'}" in capsys.readouterr().out
    text = (out / "report.md").read_text(encoding="utf-8")
    assert text.startswith(f"# Model report: {model.version} (fast)")
    for heading in (
        "## Evaluation-only sets",
        "## Identity bias (bias_madlibs_77k)",
        "## Identity bias (wiki_identity_nonfuzzed)",
        "## Identity bias (bias_madlibs_news_identities)",
        "## HateCheck (ROC AUC",
        "## Plots",
    ):
        assert heading in text, heading
    # per-identity rows with subgroup / BPSN / BNSP figures, e.g. "| muslim | 1234 | 0.9 | 0.8 | 0.9 |"
    assert re.search(r"^\| muslim \| \d+ \| [\d.–]+ \| [\d.–]+ \| [\d.–]+ \|$", text, re.M)
    # groups of South Asian politics, put into the madlibs templates
    for group in ("hazara", "pashtun", "shia", "ahmadi"):
        assert re.search(rf"^\| {group} \| 505 \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$", text, re.M), group
    # HateCheck per functionality: "| counter_quote_nh | 173 | 0.457 | 0.143 |"
    assert re.search(r"^\| counter_quote_nh \| 173 \| [\d.]+ \| [\d.]+ \|$", text, re.M)
    assert re.search(r"^\| derog_dehum_h \| 140 \| [\d.]+ \| [\d.]+ \|$", text, re.M)
    assert re.search(
        r"^The `identity_attack` score, .* has ROC AUC [\d.]+; the table is for `toxicity`\. .*"
        r"\(`ABUSIVE_NOT_HATEFUL`, 3325 cases left\) `toxicity` has ROC AUC [\d.]+\.$",
        text,
        re.M,
    )
    for png in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (out / png).stat().st_size > 10_000, png
    assert len(re.findall(r"\.png\)", text)) == 2
    assert (out / "metrics.json").is_file()
