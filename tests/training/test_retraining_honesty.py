"""The retraining loop's honesty checks: `compare`/`evaluate` read an `export_labels` file as it is (mapped
per task as the trainer maps it) and refuse rows the model trained on; `train` writes under var/models unless
told otherwise, and reports every row it drops and why."""

from __future__ import annotations

import csv
import io
import json
from contextlib import redirect_stdout

import pytest

from training.offline import datasets
from training.offline.cli import main
from training.offline.evaluate import TrainingOverlapError, read_labelled, refuse_training_rows
from training.runtime import default_model_path, file_sha256, load_model

EXPORT_HEADER = ["text", "label", "label_source", "decided_at"]


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_HEADER)
        for text, label in rows:
            writer.writerow([text, label, "moderator_review", "2026-11-01T00:00:00+00:00"])
    return path


def _small_config(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(
        json.dumps(
            {
                "max_rows_per_source": 120,
                "evaluate_external": False,
                "word_max_features": 3000,
                "char_max_features": 6000,
                "identity_sentences_per_identity": 2,
            }
        )
    )
    return path


def test_moderator_labels_map_per_task_as_training_maps_them(tmp_path):
    path = _write(
        tmp_path / "export.csv",
        [
            ("A fair point, well made.", "ok"),
            ("You are a stupid idiot.", "toxic"),
            ("Buy cheap pills here now.", "spam"),
            ("I will find you and hurt you.", "threat"),
            ("Those people are vermin.", "hate"),
            ("Off topic: football tonight?", "off_topic"),
            ("Something else entirely.", "other"),
        ],
    )
    toxicity = read_labelled(path, "text", "label", "toxicity")
    assert toxicity.vocabulary == "moderator"
    assert toxicity.y == [0, 1, 1, 1] and toxicity.skipped == 3  # spam, off_topic, other say nothing
    spam = read_labelled(path, "text", "label", "spam")
    assert spam.y == [0, 0, 1, 0, 0] and spam.skipped == 2  # a toxic rejection is not spam
    # the very mapping the trainer applies
    corpus = datasets.load_moderator_export(path)
    tox = datasets.LABELS.index("toxicity")
    assert [int(v) for v in corpus.y[:, tox] if v == v] == toxicity.y


def test_a_zero_one_column_still_reads_and_a_bad_value_names_its_line(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("text,toxic\nhello there,0\nyou idiot,1\nmeh,maybe\n")
    with pytest.raises(ValueError, match="plain.csv:4: column 'toxic' value 'maybe'"):
        read_labelled(path, "text", "toxic", "toxicity")


def test_compare_reads_an_export_with_other_and_says_what_it_skipped(tmp_path, capsys):
    path = _write(
        tmp_path / "export.csv",
        [("A fair point, well made.", "ok"), ("Thanks for the report.", "ok")]
        + [("You are a stupid idiot.", "toxic"), ("Shut up, moron.", "harassment")]
        + [("Not about the story.", "other")],
    )
    assert main(["compare", "--data", str(path), "--label-column", "label", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["n"] == 4 and result["positives"] == 2 and result["skipped_rows"] == 1
    assert "skipped 1 rows whose 'label' says nothing about toxicity" in captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on a moderator export full of rows to drop, written without --out."""
    tmp_path = tmp_path_factory.mktemp("trained")
    eval_text = next(
        r["text"]
        for r in datasets.read_rows(datasets.data_dir() / "hatecheck" / "test_suite_cases.csv", ["text"])
        if len(datasets.match_key(r["text"])) >= 12
    )
    rows = [(f"Reader comment number {n} about the council budget vote.", "ok") for n in range(30)]
    rows += [(f"You absolute idiot number {n}, nobody wants you here.", "toxic") for n in range(30)]
    rows += [
        ("Reader comment number 0 about the council budget vote.", "ok"),  # duplicate, same label
        ("Reader comment number 1 about the council budget vote!", "toxic"),  # same text, other label
        (eval_text, "toxic"),  # in an evaluation-only set
        ("A label nobody knows about.", "maybe"),
        ("Off topic but polite.", "off_topic"),
    ]
    export = _write(tmp_path / "labels.csv", rows)
    var = tmp_path / "var"
    shipped = file_sha256(default_model_path())
    mp = pytest.MonkeyPatch()
    mp.setenv("MODERATION_VAR_DIR", str(var))
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            code = main(
                [
                    "train",
                    "--config",
                    str(_small_config(tmp_path)),
                    "--labels",
                    f"{export}:2",
                    "--training-thresholds",
                ]
            )
    finally:
        mp.undo()
    assert code == 0
    assert file_sha256(default_model_path()) == shipped  # the shipped model is never the default target
    return {"export": export, "var": var, "rows": rows, "printed": printed.getvalue()}


def test_train_without_out_writes_var_models_version(trained, capsys):
    written = list((trained["var"] / "models").glob("*.joblib"))
    assert len(written) == 1
    model = load_model(written[0])
    assert written[0].name == f"{model.version}.joblib"
    assert written[0].with_suffix(".json").is_file()
    assert not list((trained["var"] / "models").glob(".training-*"))


def test_train_reports_every_dropped_row_by_reason(trained):
    model = load_model(next((trained["var"] / "models").glob("*.joblib")))
    name = "moderator_export:labels.csv"
    assert model.metadata["metrics"]["rows_dropped"][name] == {
        "no_training_label": 1,
        "unknown_label": 1,
        "evaluation_set_overlap": 1,
        "duplicate": 1,
        "conflicting_label": 1,
    }
    assert (
        f"dropped from {name}: 1 no_training_label, 1 unknown_label, 1 evaluation_set_overlap, 1 duplicate, "
        "1 conflicting_label" in trained["printed"]
    )
    assert f"wrote {trained['var'] / 'models'}" in trained["printed"]
    entry = next(d for d in model.metadata["training_data"] if d["name"] == name)
    assert entry["rows_dropped"] == 5
    kept = entry["rows_train"] + entry["rows_val"] + entry["rows_test"]
    assert kept == 60


def test_compare_and_evaluate_refuse_the_candidates_training_rows(trained, tmp_path, capsys):
    model_path = next((trained["var"] / "models").glob("*.joblib"))
    model = load_model(model_path)
    trained_rows = len(datasets.decode_hashes(model.metadata["training_rows"]["moderator_exports"]))
    assert 0 < trained_rows <= 60  # the training split of the export's kept rows
    # the export itself, less the row with a label the evaluators cannot read
    same = _write(tmp_path / "same.csv", [r for r in trained["rows"] if r[1] != "maybe"])
    n = len(read_labelled(same, "text", "label", "toxicity").texts)
    for command in ("compare", "evaluate"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--model", str(model_path), "--data", str(same), "--label-column", "label"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert (
            f"{trained_rows} of {n} evaluation rows are rows the model ({model.version}) was trained" in err
        )
    # as baseline too
    with pytest.raises(TrainingOverlapError, match="the baseline"):
        refuse_training_rows(model, [text for text, _ in trained["rows"]], "the baseline")
    unseen = _write(
        tmp_path / "holdout.csv",
        [("A new reader's thoughtful note.", "ok"), ("A new reader's idiot rant, you moron.", "toxic")],
    )
    assert (
        main(["evaluate", "--model", str(model_path), "--data", str(unseen), "--label-column", "label"]) == 0
    )


def test_a_sites_label_wins_over_a_public_copy_of_the_same_text(tmp_path):
    """The site's moderators called an SMS-collection 'ham' text spam: training keeps their label, and counts
    the public copy as a conflicting label of its own source."""
    from training.labels import LABELS
    from training.offline.pipeline import TrainingConfig, load_corpora

    text = "Ok lar... Joking wif u oni..."
    export = _write(tmp_path / "export.csv", [(text, "spam"), ("A fair point, well made.", "ok")])
    config = TrainingConfig(
        sources={"sms_spam_collection": 0.7}, moderator_exports=[{"path": str(export), "weight": 2.0}]
    )
    corpora = load_corpora(config, datasets.data_dir())
    assert corpora[0].name.startswith("moderator_export:")
    split = datasets.dedupe_and_split(corpora, set(), config.seed)
    kept = [
        (corpus.name, corpus.y[i, LABELS.index("spam")])
        for part in (split.train, split.val, split.test)
        for corpus in part
        for i, t in enumerate(corpus.texts)
        if t == text
    ]
    assert kept == [(corpora[0].name, 1.0)]
    assert split.dropped_by_reason["sms_spam_collection"].get("conflicting_label") == 1
