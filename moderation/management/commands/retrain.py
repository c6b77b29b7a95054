"""``manage.py retrain --site S``: the retraining loop in one command.

1. export the site's moderator labels with a hold-out of the latest ones (``selectors.labels``);
2. train a candidate, the fast stage only, on the shipped training set plus the earlier labels (a subprocess
   ``python -m training train --labels FILE:WEIGHT``: the offline side is never imported here);
3. compare it with the active model on the hold-out, with DeLong's 95% intervals (``python -m training
   compare``, which refuses rows the candidate trained on);
4. register it (``services.registry.register_model``) and start shadowing it (``services.shadow``);
5. write ``report.html`` (with a ROC plot) and ``report.json``: whether to promote, and why
   (``moderation.management.retrain_report``).

It never promotes: ``manage.py promote VERSION`` stays a person's decision.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from moderation.management.options import parse_share, parse_when
from moderation.management.retrain_report import recommend, roc_plot_png, write_report
from moderation.models import ModelVersion, Site
from moderation.policy import APPROVED, thresholds_for
from moderation.scoring import VerificationError, judge, load_verified, model_path
from moderation.selectors.labels import count_by_source, label_rows, split_by_time, write_label_rows
from moderation.selectors.tuning import recent_texts
from moderation.services.registry import register_model
from moderation.services.shadow import start_shadow

DEFAULT_BUDGET = 0.15  # training.offline.thresholds.ThresholdRule's, when neither site nor model says


class Command(BaseCommand):
    help = (
        "Export a site's labels with a hold-out, train a candidate on the shipped training set plus the "
        "labels, compare it with the active model on the hold-out, register and shadow it, and write a "
        "report saying whether to promote it and why. It never promotes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="the site's slug")
        parser.add_argument(
            "--since", default="2000-01-01", help="first day of labels (YYYY-MM-DD; default: all)"
        )
        holdout = parser.add_mutually_exclusive_group()
        holdout.add_argument(
            "--holdout-share",
            default="0.2",
            help="latest share of the labels kept out of training to judge the candidate (default 0.2)",
        )
        holdout.add_argument("--holdout-after", default=None, help="hold out labels decided from this date")
        parser.add_argument(
            "--out-dir", type=Path, default=None, help="default: var/retrain/<site>-<UTC time>"
        )
        parser.add_argument(
            "--weight", type=float, default=3.0, help="weight of each label row in training (default 3)"
        )
        parser.add_argument(
            "--config", default=None, help="a training config JSON (python -m training train)"
        )
        parser.add_argument("--audit-sample", type=int, default=500)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--days", type=int, default=30, help="recent traffic the flagged share is measured on (30)"
        )
        parser.add_argument("--no-shadow", action="store_true", help="register the candidate, do not shadow")
        parser.add_argument("--by", default="retrain", help="who registers and shadows it (audit trail)")

    def handle(self, *args, site, out_dir, weight, config, days, by, **options):
        started = time.perf_counter()
        seconds: dict[str, float] = {}
        try:
            target = Site.objects.get(slug=site)
        except Site.DoesNotExist:
            raise CommandError(f"--site: no site {site!r}") from None
        if weight <= 0:
            raise CommandError(f"--weight must be > 0, got {weight}")
        if config is not None and not Path(config).is_file():
            raise CommandError(f"--config: file not found: {config}")
        out_dir = out_dir or Path(settings.VAR_DIR) / "retrain" / f"{site}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        out_dir.mkdir(parents=True, exist_ok=True)

        # 1. export with a hold-out
        step = time.perf_counter()
        after = parse_when("--holdout-after", options["holdout_after"])
        share = None if after is not None else parse_share("--holdout-share", options["holdout_share"])
        rows = label_rows(
            parse_when("--since", options["since"]), None, options["audit_sample"], options["seed"], site
        )
        split = split_by_time(rows, after, share)
        train_csv = write_label_rows(out_dir / "labels.csv", split.train)
        holdout_csv = write_label_rows(out_dir / "labels.holdout.csv", split.holdout)
        files = [
            (train_csv.name, len(split.train), count_by_source(split.train)),
            (holdout_csv.name, len(split.holdout), count_by_source(split.holdout)),
        ]
        for name, n, sources in files:
            self.stdout.write(f"wrote {n} rows to {out_dir / name} ({sources})")
        if not split.holdout:
            raise CommandError(
                f"site {site!r} has {len(rows)} label rows since {options['since']}: none left for a "
                "hold-out; let moderators decide more comments or give an earlier --since"
            )
        seconds["export"] = time.perf_counter() - step

        # 2. train (fast stage) on the shipped training set plus the earlier labels
        step = time.perf_counter()
        candidate_path = out_dir / "candidate.joblib"
        command = [
            "train",
            "--labels",
            f"{train_csv}:{weight}",
            "--out",
            str(candidate_path),
            "--no-external-eval",
        ]
        if config:
            command += ["--config", str(config)]
        self._training(command, out_dir / "train.log")
        seconds["train"] = time.perf_counter() - step

        # 3. compare on the hold-out against the active model
        step = time.perf_counter()
        active = ModelVersion.objects.filter(is_active=True).first()
        active_path = Path(active.path) if active else model_path()
        comparisons = {}
        for task in ("toxicity", "spam"):
            comparisons[task] = self._compare(task, candidate_path, active_path, holdout_csv, out_dir)
        seconds["compare"] = time.perf_counter() - step

        # 4. register and shadow
        step = time.perf_counter()
        try:
            row = register_model(candidate_path, actor_label=by)
            self.stdout.write(f"registered {row.version}")
            if not options["no_shadow"]:
                start_shadow(row.version, by)
                self.stdout.write(f"shadowing {row.version} (see `manage.py shadow --report {row.version}`)")
        except (VerificationError, ValueError) as exc:
            raise CommandError(f"refused: {exc}") from None
        seconds["register_and_shadow"] = time.perf_counter() - step

        # 5. the flagged share on recent traffic, the decision and the report
        step = time.perf_counter()
        shares = self._shares(target, candidate_path, active, active_path, days, split.holdout)
        seconds["workload"] = time.perf_counter() - step
        promote, reasons = recommend(comparisons["toxicity"], shares)
        candidate_meta = json.loads(candidate_path.with_suffix(".json").read_text(encoding="utf-8"))
        seconds["total"] = time.perf_counter() - started
        summary = {
            "site": site,
            "candidate": row.version,
            "active": active.version if active else f"{active_path} (not registered)",
            "promote": promote,
            "reasons": reasons,
            "files": files,
            "cutoff": split.cutoff,
            "repeats": split.repeats,
            "comparisons": comparisons,
            "shares": shares,
            "rows_dropped": candidate_meta.get("metrics", {}).get("rows_dropped", {}),
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (out_dir / "report.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        scores = out_dir / "scores-toxicity.csv"
        report = write_report(
            out_dir / "report.html", summary, roc_plot_png(scores) if scores.is_file() else None
        )
        self.stdout.write(("PROMOTE: " if promote else "KEEP the active model: ") + "; ".join(reasons))
        self.stdout.write(f"wrote {report} in {seconds['total']:.0f}s")

    def _training(self, command: list[str], log_path: Path) -> None:
        """Run ``python -m training COMMAND`` from the project root, echoing and logging its output."""
        argv = [sys.executable, "-m", "training", *command]
        self.stdout.write("$ " + " ".join(argv[1:]))
        with open(log_path, "w", encoding="utf-8") as log:
            process = subprocess.Popen(
                argv, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for line in process.stdout:
                log.write(line)
                self.stdout.write(line.rstrip("\n"))
            if process.wait() != 0:
                raise CommandError(
                    f"`python -m training {command[0]}` failed (exit {process.returncode}); see {log_path}"
                )

    def _compare(self, task: str, candidate: Path, active: Path, holdout: Path, out_dir: Path) -> dict | None:
        argv = [
            sys.executable,
            "-m",
            "training",
            "compare",
            "--model",
            str(candidate),
            "--baseline",
            str(active),
        ]
        argv += ["--data", str(holdout), "--label-column", "label", "--task", task, "--json"]
        argv += ["--scores-out", str(out_dir / f"scores-{task}.csv")]
        done = subprocess.run(argv, cwd=settings.BASE_DIR, capture_output=True, text=True)
        if done.returncode != 0:
            self.stderr.write(f"compare {task}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
            return None
        result = json.loads(done.stdout.strip().splitlines()[-1])
        (out_dir / f"compare-{task}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        difference = result.get("differences", {}).get("baseline")
        if difference:
            lo, hi = difference["ci95"]
            self.stdout.write(
                f"{task}: candidate {result['ours']['roc_auc']:.4f} vs active "
                f"{result['baseline']['roc_auc']:.4f} ROC AUC on {result['n']} hold-out rows; gain "
                f"{difference['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            )
        else:
            self.stdout.write(f"{task}: {result['n']} hold-out rows, {result['positives']} positive: no AUC")
        return result

    def _shares(
        self, site: Site, candidate_path: Path, active, active_path: Path, days: int, holdout
    ) -> dict:
        """The share of the site's recent comments each model would flag at the site's thresholds; on the
        hold-out's texts when the site has no recent automatic decisions."""
        texts = recent_texts(site, days)
        on = f"automatically decided comments of the last {days} days"
        if not texts:
            texts, on = [r["text"] for r in holdout], "hold-out comments (no recent automatic decisions)"
        candidate = load_verified(candidate_path).model
        current = load_verified(active_path, active.sha256 if active else None).model
        budget = site.review_budget or (
            (current.metadata.get("threshold_choice") or {}).get("rule", {}).get("review_budget")
            or DEFAULT_BUDGET
        )
        shares: dict = {"n": len(texts), "on": on, "budget": budget, "candidate": None, "active": None}
        if texts:
            for key, model in (("candidate", candidate), ("active", current)):
                cuts = thresholds_for(site, model.thresholds)
                flagged = sum(
                    judge(scores, cuts, model.version, text=text).outcome != APPROVED
                    for text, scores in zip(texts, model.score(texts), strict=True)
                )
                shares[key] = round(flagged / len(texts), 4)
        return shares
