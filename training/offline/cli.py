"""`python -m training {train,evaluate,predict,compare,export-onnx,heads,refit,restage,report,thresholds,
adapt}` — the offline command line.

Errors name the bad argument and exit with status 2 (argparse convention); a model that fails verification
exits with status 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

from training.runtime import LABELS, ArtifactError, default_model_path, load_model, metadata_path

TASKS = ("toxicity", "spam")
_REPO_ROOT = Path(__file__).resolve().parents[2]


def candidates_dir() -> Path:
    """Where `train` writes without --out: ``$MODERATION_VAR_DIR/models`` (default ``<repo>/var/models``),
    never the shipped model."""
    return Path(os.environ.get("MODERATION_VAR_DIR") or _REPO_ROOT / "var") / "models"


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file not found: {value}")
    return path


def _labels_arg(value: str) -> dict:
    """`FILE[:WEIGHT]` -> {"path", "weight"} (a TrainingConfig.moderator_exports entry)."""
    path, sep, weight = value.rpartition(":")
    if sep:
        try:
            parsed = float(weight)
        except ValueError:
            path, parsed = value, 1.0  # a ':' that is part of the path
    else:
        path, parsed = value, 1.0
    if parsed <= 0:
        raise argparse.ArgumentTypeError(f"weight must be > 0, got {weight}")
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"file not found: {path}")
    return {"path": str(path), "weight": parsed}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train the toxicity + spam model and write .joblib + .json")
    p.add_argument("--config", type=_existing_file, help="JSON file overriding TrainingConfig fields")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="artifact path (default: var/models/<version>.joblib; the shipped model only when named here)",
    )
    p.add_argument(
        "--labels",
        type=_labels_arg,
        action="append",
        default=[],
        metavar="FILE[:WEIGHT]",
        help="moderator labels (CSV from `manage.py export_labels`) mixed with the public datasets, each row "
        "weighted WEIGHT (default 1.0); repeat for several files",
    )
    p.add_argument(
        "--no-external-eval",
        action="store_true",
        help="skip scoring the evaluation-only sets (faster; metadata then lacks those metrics)",
    )
    p.add_argument(
        "--training-thresholds",
        action="store_true",
        help="keep the thresholds training picks (precision/recall on validation) instead of the news desk's "
        "default policy (`thresholds`: precision on news comments for anything that can reject, a review "
        "budget for the general score)",
    )
    p.add_argument(
        "--second-stage",
        action="store_true",
        help="also train the optional second stage for toxicity: all-MiniLM-L6-v2 with its top "
        "layers fine-tuned (second_stage_finetune_layers in the config; about 10 more minutes on two "
        "cores; needs the `embeddings` extra; at scoring time on by default once `export-onnx` has added its "
        "ONNX encoder, else only with MODERATION_SECOND_STAGE=on and the extra)",
    )

    def model_arg(p):
        p.add_argument(
            "--model", type=Path, default=None, help="artifact .joblib (default: the shipped model)"
        )

    p = sub.add_parser("evaluate", help="metrics of a model on a labelled CSV")
    model_arg(p)
    p.add_argument("--data", type=_existing_file, required=True, help="CSV file")
    p.add_argument("--text-column", default="text")
    p.add_argument(
        "--label-column",
        required=True,
        help="0/1 label column, or export_labels' `label` (mapped per --task as training maps it)",
    )
    p.add_argument("--task", choices=TASKS, default="toxicity", help="which score to evaluate")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("predict", help="add one score column per label to a CSV")
    model_arg(p)
    p.add_argument("--data", type=_existing_file, required=True, help="input CSV")
    p.add_argument("--text-column", default="text")
    p.add_argument("--out", type=Path, required=True, help="output CSV")

    p = sub.add_parser(
        "compare",
        help="our model vs alt-profanity-check (and, with --baseline, another artifact) on a labelled CSV, "
        "with DeLong's paired 95%% intervals",
    )
    model_arg(p)
    p.add_argument(
        "--baseline",
        type=_existing_file,
        default=None,
        help="another artifact .joblib to rank against on the same rows (say, the shipped "
        "models/default.joblib against a candidate given as --model)",
    )
    p.add_argument(
        "--data",
        type=_existing_file,
        required=True,
        help="labelled CSV; refused if it holds rows either model trained on",
    )
    p.add_argument("--text-column", default="text")
    p.add_argument(
        "--label-column",
        required=True,
        help="0/1 label column, or export_labels' `label` (mapped per --task as training maps it)",
    )
    p.add_argument("--task", choices=TASKS, default="toxicity")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--scores-out",
        type=Path,
        default=None,
        help="also write each row's 0/1 label and every scorer's score to this CSV (for ROC plots)",
    )

    p = sub.add_parser(
        "export-onnx",
        help="add the second stage's encoder as an ONNX graph to a copy of an artifact, so the stage runs "
        "without torch (needs the `embeddings` extra and onnx)",
    )
    model_arg(p)
    p.add_argument("--out", type=Path, required=True, help="the new artifact .joblib (+ .json)")
    p.add_argument(
        "--precision",
        choices=("auto", "int8", "fp32"),
        default="auto",
        help="auto (default): int8 if it moves no news-site AUC of the blend by 0.005 or more, else fp32",
    )
    p.add_argument(
        "--no-check",
        action="store_true",
        help="skip comparing the ONNX encoder with torch on real comments (needs --precision int8/fp32)",
    )

    p = sub.add_parser("report", help="Markdown report with plots, bias audit and HateCheck breakdown")
    model_arg(p)
    p.add_argument("--out", type=Path, required=True, help="output directory")

    p = sub.add_parser(
        "thresholds",
        help="copy a model with the default policy's thresholds chosen for a news desk (precision for "
        "anything that can reject, a review budget for the general score; see training.offline.thresholds)",
    )
    model_arg(p)
    p.add_argument("--out", type=Path, required=True, help="artifact path for the copy (a new version)")
    p.add_argument(
        "--review-budget",
        type=_share,
        default=0.15,
        help="share of news comments flagged (held or rejected) by default (default 0.15)",
    )
    p.add_argument("--reject-precision", type=_share, default=0.95, help="an abuse label alone (0.95)")
    p.add_argument("--review-precision", type=_share, default=0.95, help="an abuse label's review (0.95)")

    p = sub.add_parser(
        "heads",
        help="copy a model whose second stage also scores identity hate and threats from its sentence "
        "vectors (training.offline.heads; choose their thresholds with `thresholds` afterwards)",
    )
    model_arg(p)
    p.add_argument("--out", type=Path, required=True, help="artifact path for the copy (a new version)")
    p.add_argument(
        "--identity-swaps",
        type=int,
        default=0,
        metavar="N",
        help="copies of each identity_attack-positive training row that names a group, the group swapped "
        "for another (HeadsConfig.identity_swaps; default 0: off)",
    )
    p.add_argument(
        "--identity-swap-weight",
        type=float,
        default=1.0,
        metavar="W",
        help="each copy's weight, as a share of its row's (default 1.0)",
    )
    p.add_argument("--identity-swap-seed", type=int, default=0, metavar="SEED", help="(default 0)")
    p.add_argument(
        "--identity-swap-negatives",
        action="store_true",
        help="copy identity_attack's negatives that name a group the same way, as negatives",
    )
    p.add_argument(
        "--threat-sentences",
        type=int,
        default=0,
        metavar="N",
        help="our own threat sentences as threat positives, and civil sentences in the same vocabulary as "
        "negatives, N of each at most (HeadsConfig.threat_sentences; default 0: off)",
    )
    p.add_argument(
        "--name-sentences",
        type=float,
        default=0.3,
        metavar="W",
        help="our own civil sentences naming people from many places as identity_attack negatives, weighing "
        "W times its positives together (HeadsConfig.name_sentences_weight; default 0.3; 0: off)",
    )
    p.add_argument(
        "--soft-labels",
        nargs="+",
        choices=["identity_attack", "threat"],
        default=[],
        help="labels learned from their soft targets (the share of raters) instead of target >= 0.5 "
        "(HeadsConfig.soft_labels)",
    )

    p = sub.add_parser(
        "refit",
        help="copy a model with some fast-stage label heads fitted again on another mix of sources, over its "
        "own features (training.offline.refit; choose thresholds with `thresholds` afterwards)",
    )
    model_arg(p)
    p.add_argument("--out", type=Path, required=True, help="artifact path for the copy (a new version)")
    p.add_argument("--labels", nargs="+", choices=LABELS, default=["spam"], help="the heads refitted (spam)")
    p.add_argument(
        "--config",
        type=_existing_file,
        default=None,
        help="a training config JSON whose sources (and max_rows_per_source) are used (default: the "
        "default sources)",
    )
    p.add_argument(
        "--add-phone-features",
        action="store_true",
        help="append the telephone-number feature (training.features.PhoneNumberFeatures) when the model has "
        "none; the other heads get a zero weight for it, so their scores do not change",
    )

    p = sub.add_parser(
        "restage",
        help="copy a model whose second stage's encoder layers are fine-tuned again on toxicity and on "
        "identity hate and threats together (training.offline.restage; then heads, export-onnx, thresholds)",
    )
    model_arg(p)
    p.add_argument("--out", type=Path, required=True, help="artifact path for the copy (a new version)")
    p.add_argument(
        "--hate-rows",
        type=int,
        default=12000,
        help="rows of the hate and threat sources added to the toxicity rows (default 12000; 0: toxicity "
        "alone)",
    )
    p.add_argument(
        "--identity-swaps",
        type=int,
        default=0,
        metavar="N",
        help="copies of each hate row that names a group, the group swapped for another, with its "
        "identity_attack label, positives and negatives alike (default 0: off)",
    )
    p.add_argument(
        "--threat-sentences",
        type=int,
        default=0,
        metavar="N",
        help="our own threat sentences and their civil twins, N of each at most, with their threat and "
        "toxicity labels (RestageConfig.threat_sentences; default 0: off)",
    )

    p = sub.add_parser(
        "adapt",
        help="fit a site adapter (a site head + calibration on top of a model, with the site's thresholds) "
        "from a site's moderator labels (docs/adaptation.md)",
    )
    model_arg(p)
    p.add_argument("--labels", type=_existing_file, required=True, help="CSV from `manage.py export_labels`")
    p.add_argument("--out", type=Path, required=True, help="adapter path (.joblib + .json sidecar)")
    p.add_argument("--site", default="", help="the site's name, recorded in the adapter's version")
    p.add_argument("--label", choices=LABELS, default="toxicity", help="the label re-scored (toxicity)")
    p.add_argument(
        "--review-budget",
        type=_share,
        default=0.15,
        help="share of the site's labelled comments the adapted score may flag (default 0.15)",
    )
    p.add_argument("--reject-precision", type=_share, default=0.95, help="automatic rejections (0.95)")
    return parser


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < share < 1:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 1 (a share)")
    return share


def _load(path: Path | None, option: str = "--model"):
    try:
        return load_model(path)
    except ArtifactError as exc:
        print(f"error: {option}: {exc}", file=sys.stderr)
        raise SystemExit(3) from None


def _check_columns(parser, path: Path, *columns: tuple[str, str]) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    for option, column in columns:
        if column not in header:
            parser.error(f"{option}: column {column!r} not in {path} (columns: {header})")


def cmd_train(args) -> int:
    from training.offline.pipeline import ConfigError, TrainingConfig, save_model, train_model

    try:
        config = TrainingConfig.from_file(args.config) if args.config else TrainingConfig()
    except ConfigError as exc:
        print(f"error: --config: {exc}", file=sys.stderr)
        return 2
    if args.no_external_eval:
        config.evaluate_external = False
    if args.second_stage:
        config.second_stage = True
    config.moderator_exports = list(config.moderator_exports) + list(args.labels)
    out = args.out or candidates_dir() / f".training-{os.getpid()}.joblib"
    if args.out is not None and args.out.resolve() == default_model_path().resolve():
        print(f"note: replacing the shipped model {args.out} (--out)", file=sys.stderr)
    started = time.perf_counter()
    from training.embedding import EmbeddingUnavailable

    try:
        model = save_model(train_model(config, progress=lambda msg: print(msg, flush=True)), out)
    except EmbeddingUnavailable as exc:
        print(f"error: --second-stage: {exc}", file=sys.stderr)
        return 2
    if not args.training_thresholds:
        from training.offline.thresholds import ThresholdRule, rethreshold

        model = rethreshold(out, out, ThresholdRule(), progress=lambda msg: print(msg, flush=True))
    if args.out is None:  # named after its version, known once written
        named = out.with_name(f"{model.version}.joblib")
        out.replace(named)
        metadata_path(out).replace(metadata_path(named))
        out = named
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) version {model.version} "
        f"in {time.perf_counter() - started:.0f}s"
    )
    print(f"thresholds: {json.dumps(model.thresholds)}")
    return 0


def _skipped_note(result: dict, args) -> None:
    if result.get("skipped_rows"):
        print(
            f"skipped {result['skipped_rows']} rows whose {args.label_column!r} says nothing about "
            f"{args.task} (moderator labels such as off_topic, other, or spam for toxicity)",
            file=sys.stderr,
        )


def cmd_evaluate(args, parser) -> int:
    from training.offline.evaluate import TrainingOverlapError, evaluate_csv

    _check_columns(
        parser, args.data, ("--text-column", args.text_column), ("--label-column", args.label_column)
    )
    model = _load(args.model)
    try:
        result = evaluate_csv(model, args.data, args.text_column, args.label_column, args.task)
    except TrainingOverlapError as exc:
        parser.error(f"--data: {exc}")
    except ValueError as exc:
        parser.error(f"--label-column: {exc}")
    _skipped_note(result, args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20s} {value}")
    return 0


def cmd_predict(args, parser) -> int:
    _check_columns(parser, args.data, ("--text-column", args.text_column))
    model = _load(args.model)
    with open(args.data, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fieldnames = list(reader.fieldnames or [])
    scores = []
    for i in range(0, len(rows), 4096):
        scores.extend(model.score([r[args.text_column] for r in rows[i : i + 4096]]))
    clash = [label for label in model.labels if label in fieldnames]
    if clash:
        parser.error(f"--data: input already has column(s) {clash}; rename them first")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames + model.labels)
        writer.writeheader()
        for row, score in zip(rows, scores, strict=True):
            writer.writerow({**row, **{k: f"{v:.6f}" for k, v in score.items()}})
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


def cmd_compare(args, parser) -> int:
    from training.offline.compare import compare_csv
    from training.offline.evaluate import TrainingOverlapError

    _check_columns(
        parser, args.data, ("--text-column", args.text_column), ("--label-column", args.label_column)
    )
    model = _load(args.model)
    baseline = _load(args.baseline, "--baseline") if args.baseline else None
    try:
        result = compare_csv(
            model, args.data, args.text_column, args.label_column, args.task, baseline, args.scores_out
        )
    except TrainingOverlapError as exc:
        parser.error(f"--data: {exc}")
    except ValueError as exc:
        parser.error(f"--label-column: {exc}")
    except RuntimeError as exc:  # the peer is not installed
        print(f"error: {exc}", file=sys.stderr)
        return 3
    _skipped_note(result, args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"n={result['n']}, positives={result['positives']}, task={result['task']}")
    print(f"{'':22s}{'ROC AUC':>9s}  {'95% interval':17s}{'AP':>8s}")
    names = ["ours", "alt_profanity_check"] + (["baseline"] if baseline else [])
    for name in names:
        r = result[name]
        if r["roc_auc"] is None:
            print(f"{name:22s}{'n/a (one class)':>9s}")
            continue
        lo, hi = r["roc_auc_ci95"]
        print(f"{name:22s}{r['roc_auc']:>9.4f}  [{lo:.4f}, {hi:.4f}]{r['average_precision']:>9.4f}")
    for name, d in result.get("differences", {}).items():
        lo, hi = d["ci95"]
        print(
            f"ours - {name}: {d['difference']:+.4f} ROC AUC, 95% interval [{lo:+.4f}, {hi:+.4f}], "
            f"p = {d['p_value']:.2g} (DeLong, paired; the evaluation rows' sampling error only)"
        )
    return 0


def cmd_export_onnx(args, parser) -> int:
    from training.embedding import EmbeddingUnavailable
    from training.offline.export_onnx import export_model

    if args.no_check and args.precision == "auto":
        parser.error("--no-check: choose --precision int8 or fp32 (auto chooses from the comparison)")
    artifact = _load(args.model)
    started = time.perf_counter()
    try:
        model = export_model(
            artifact,
            args.out,
            args.precision,
            check=not args.no_check,
            progress=lambda message: print(message, flush=True),
        )
    except EmbeddingUnavailable as exc:
        print(f"error: --model: {exc}", file=sys.stderr)
        return 2
    encoder = model._payload["second_stage"].onnx_encoder
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) version {model.version}: "
        f"{encoder.precision} encoder, {time.perf_counter() - started:.0f}s"
    )
    return 0


def cmd_report(args) -> int:
    from training.offline.report import write_report

    model = _load(args.model)
    path = write_report(model, args.out)
    print(f"wrote {path}")
    return 0


def cmd_thresholds(args) -> int:
    from training.offline.thresholds import ThresholdRule, rethreshold

    if args.out.resolve() == default_model_path().resolve():
        print(f"note: replacing the shipped model {args.out}", file=sys.stderr)
    _load(args.model)  # verified first: a bad file stops here with a clear error
    rule = ThresholdRule(
        reject_precision=args.reject_precision,
        review_precision=args.review_precision,
        review_budget=args.review_budget,
    )
    model = rethreshold(args.model, args.out, rule)
    print(f"wrote {model.path} version {model.version}")
    return 0


def cmd_adapt(args) -> int:
    from training.adapter import save_adapter
    from training.offline.adapt import fit_adapter, read_export
    from training.offline.datasets import DataError

    model = _load(args.model)
    try:
        texts, y, skipped = read_export(args.labels, args.label)
    except DataError as exc:
        print(f"error: --labels: {exc}", file=sys.stderr)
        return 2
    for reason, count in sorted(skipped.items()):
        print(f"skipped {count} row(s): {reason}")
    started = time.perf_counter()
    try:
        adapter = fit_adapter(
            model,
            texts,
            y,
            label=args.label,
            review_budget=args.review_budget,
            reject_precision=args.reject_precision,
        )
    except ValueError as exc:
        print(f"error: --labels: {exc}", file=sys.stderr)
        return 2
    adapter = save_adapter(adapter, args.out, model, site=args.site)
    auc = adapter.fit["out_of_fold_auc"]
    print(
        f"wrote {args.out} version {adapter.version} on model {model.version} from {len(y)} labels "
        f"({sum(y)} {args.label}) in {time.perf_counter() - started:.0f}s; out-of-fold ROC AUC on them: "
        f"shared model {auc['shared_model']}, adapted {auc['adapted']} "
        "(the adapter's own labels: measure it on a hold-out)"
    )
    print(f"site thresholds: {json.dumps(adapter.thresholds)}")
    return 0


def cmd_heads(args: argparse.Namespace) -> int:
    from training.offline.heads import HeadsConfig, fit_heads

    if args.identity_swaps < 0 or args.identity_swap_weight <= 0:
        raise SystemExit("--identity-swaps must be >= 0 and --identity-swap-weight > 0")
    if args.threat_sentences < 0:
        raise SystemExit(f"--threat-sentences must be >= 0 (got {args.threat_sentences})")
    if args.name_sentences < 0:
        raise SystemExit(f"--name-sentences must be >= 0 (got {args.name_sentences})")
    config = HeadsConfig(
        identity_swaps=args.identity_swaps,
        identity_swap_weight=args.identity_swap_weight,
        identity_swap_seed=args.identity_swap_seed,
        identity_swap_negatives=args.identity_swap_negatives,
        threat_sentences=args.threat_sentences,
        name_sentences_weight=args.name_sentences,
        soft_labels=tuple(args.soft_labels),
    )
    model = fit_heads(args.model, args.out, config, progress=lambda line: print(line, flush=True))
    print(f"wrote {args.out} ({model.version}); now choose its thresholds: python -m training thresholds")
    return 0


def cmd_refit(args: argparse.Namespace) -> int:
    from training.offline.pipeline import ConfigError, TrainingConfig
    from training.offline.refit import RefitConfig, refit_heads

    config = RefitConfig(labels=tuple(args.labels), add_phone_features=args.add_phone_features)
    if args.config is not None:
        try:
            training = TrainingConfig.from_file(args.config)
        except ConfigError as exc:
            print(f"error: --config: {exc}", file=sys.stderr)
            return 2
        config.sources, config.max_rows_per_source = training.sources, training.max_rows_per_source
    model = refit_heads(args.model, args.out, config, progress=lambda line: print(line, flush=True))
    print(f"wrote {args.out} ({model.version}); now choose its thresholds: python -m training thresholds")
    return 0


def cmd_restage(args: argparse.Namespace) -> int:
    from training.offline.restage import RestageConfig, restage

    for flag, value in (
        ("--hate-rows", args.hate_rows),
        ("--identity-swaps", args.identity_swaps),
        ("--threat-sentences", args.threat_sentences),
    ):
        if value < 0:
            print(f"error: {flag} must be >= 0, got {value}", file=sys.stderr)
            return 2
    if args.identity_swaps and not args.hate_rows:
        print("error: --identity-swaps copies hate rows: it needs --hate-rows > 0", file=sys.stderr)
        return 2
    config = RestageConfig(
        hate_rows=args.hate_rows, identity_swaps=args.identity_swaps, threat_sentences=args.threat_sentences
    )
    model = restage(args.model, args.out, config, lambda line: print(line, flush=True))
    print(f"wrote {args.out} ({model.version}); next: python -m training heads, export-onnx, thresholds")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        return cmd_train(args)
    if args.command == "evaluate":
        return cmd_evaluate(args, parser)
    if args.command == "predict":
        return cmd_predict(args, parser)
    if args.command == "compare":
        return cmd_compare(args, parser)
    if args.command == "export-onnx":
        return cmd_export_onnx(args, parser)
    if args.command == "report":
        return cmd_report(args)
    if args.command == "thresholds":
        return cmd_thresholds(args)
    if args.command == "heads":
        return cmd_heads(args)
    if args.command == "refit":
        return cmd_refit(args)
    if args.command == "restage":
        return cmd_restage(args)
    if args.command == "adapt":
        return cmd_adapt(args)
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse enforces the choices
    return 2


assert set(TASKS) <= set(LABELS)
