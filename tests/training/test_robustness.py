"""The robustness benchmark (benchmarks/robustness.py) runs end to end on a few rows; figures are not checked
here (they are the benchmark's job), only that every transform is measured and the report has its shape."""

import json
import random

import pytest

from benchmarks import robustness


@pytest.fixture(scope="module")
def report():
    return robustness.run(limit=50, seed=1)


def test_reports_every_transform_for_both_tasks(report):
    toxic, spam = report["tasks"]["toxic"], report["tasks"]["spam"]
    assert set(toxic["transforms"]) == set(robustness.WORD_TRANSFORMS)
    assert set(spam["transforms"]) == set(robustness.WORD_TRANSFORMS) | {"url_obfuscation"}
    for task in (toxic, spam):
        assert task["positives"] >= 2 and task["negatives"] >= 2
        assert task["positives"] + task["negatives"] <= 50
        assert "jigsaw_toxic_test_examples_ibm" in toxic["sets"]
        for name, figures in task["transforms"].items():
            assert figures["positives_changed"] > 0 or name == "url_obfuscation"
            for key in (
                "mean_score_drop",
                "within_0_15",
                "fell_below_reject",
                "roc_auc_obfuscated",
                "auc_drop",
            ):
                assert key in figures
            assert isinstance(figures["meets_target"], bool)
    json.dumps(report)  # what --json prints


def test_seeded_transforms_are_reproducible():
    text = "you are a stupid idiot, visit www.spam-site.com now"
    for name, transform in robustness.WORD_TRANSFORMS.items():
        first = robustness.obfuscate_words(text, {"stupid", "idiot"}, transform, random.Random(f"1:{name}"))
        again = robustness.obfuscate_words(text, {"stupid", "idiot"}, transform, random.Random(f"1:{name}"))
        assert first == again
        assert first != text, name
        assert "www.spam-site.com" in first  # links are left to url_obfuscation
    assert "spam-site.com" not in robustness.url_obfuscation(text, random.Random(0))


def test_cli_prints_one_json_object(capsys, monkeypatch):
    monkeypatch.setattr(robustness, "run", lambda **kwargs: {"tasks": {}, "all_targets_met": True, **kwargs})
    assert robustness.main(["--json", "--limit", "10"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["limit"] == 10
