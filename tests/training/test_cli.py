"""`python -m training` commands against the shipped model."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.offline.cli import main
from training.runtime import LABELS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def labelled_csv(tmp_path):
    path = tmp_path / "labelled.csv"
    rows = [
        ("Thanks, this was a helpful article.", 0),
        ("You are a worthless idiot.", 1),
        ("I disagree with the council's decision.", 0),
        ("shut up, moron", 1),
        ("Nice photos!", 0),
    ]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "is_toxic"])
        writer.writerows(rows)
    return path


def test_evaluate_json_prints_the_metrics(labelled_csv, capsys):
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(labelled_csv),
                "--label-column",
                "is_toxic",
                "--task",
                "toxicity",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    for key in ("roc_auc", "average_precision", "n", "positives", "precision", "recall", "threshold"):
        assert key in result
    assert result["n"] == 5 and result["positives"] == 2


def test_evaluate_names_a_bad_column(labelled_csv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--data", str(labelled_csv), "--label-column", "nope", "--json"])
    assert exc.value.code == 2
    assert "--label-column" in capsys.readouterr().err


def test_predict_adds_one_column_per_label(labelled_csv, tmp_path):
    out = tmp_path / "scored.csv"
    assert main(["predict", "--data", str(labelled_csv), "--text-column", "text", "--out", str(out)]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5
    assert list(rows[0]) == ["text", "is_toxic", *LABELS]


def test_module_entry_point_runs(labelled_csv):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "evaluate",
            "--data",
            str(labelled_csv),
            "--text-column",
            "text",
            "--label-column",
            "is_toxic",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "roc_auc" in json.loads(proc.stdout)


def test_compare_ranks_ours_the_peer_and_a_baseline_on_the_same_rows(labelled_csv, capsys):
    from training.runtime import default_model_path

    baseline = str(default_model_path())
    args = ["compare", "--data", str(labelled_csv), "--label-column", "is_toxic", "--baseline", baseline]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 5 and result["positives"] == 2
    for name in ("ours", "alt_profanity_check", "baseline"):
        lo, hi = result[name]["roc_auc_ci95"]
        assert lo <= result[name]["roc_auc"] <= hi
    # the baseline is the same artifact: the paired difference is exactly zero
    assert result["baseline"]["model_version"] == result["model_version"]
    same = result["differences"]["baseline"]
    assert same["difference"] == 0 and same["p_value"] == 1.0
    assert set(result["differences"]) == {"alt_profanity_check", "baseline"}
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "95% interval" in text and "ours - alt_profanity_check:" in text and "ours - baseline:" in text


def test_compare_names_a_baseline_that_fails_verification(labelled_csv, artifact_copy, capsys):
    artifact_copy.write_bytes(artifact_copy.read_bytes()[:-10])
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "compare",
                "--data",
                str(labelled_csv),
                "--label-column",
                "is_toxic",
                "--baseline",
                str(artifact_copy),
            ]
        )
    assert exc.value.code == 3
    assert "--baseline" in capsys.readouterr().err
