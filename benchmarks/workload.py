"""What the default policy does to a news desk: civil comments rejected and held, toxic comments caught, the
precision of automatic rejections, and how well the review queue is ranked — beside alt-profanity-check.

    python -m benchmarks workload [--model PATH] [--fast-stage | --second-stage] [--sweep] [--json]

Every comment goes through the one verdict (``moderation.scoring.judge``: the policy at the model's default
thresholds, with the text's gates, language and telephone number), as a site with no overrides gets it (no
commenter context), from the model as workers serve it by default (its second stage on when the artifact's
runs here: ``MODERATION_SECOND_STAGE``); ``--fast-stage`` measures the fast stage alone. Sets:

- ``civil_comments_test``: Civil Comments rows of the model's held-out test split (never trained on, never
  used for thresholds); ``civil_comments_toxic_spans_test``: the toxic-only posts of the same split (toxic
  share held or rejected only);
- ``globe_and_mail_level2plus`` / ``level3plus`` and ``fox_news_hateful``: other sites' news comments,
  evaluation only;
- ``news_desk``: our own hand-written comments on political stories
  (``benchmarks/data/news_desk_comments.csv``): a regression check, never a tuning target. Its spam rows are
  reported apart, with every kind, in ``news_desk_by_kind``, and as a new commenter's on a site with the
  default context in ``news_desk_spam_from_a_new_commenter``;
- ``hatecheck``: the 3,728 HateCheck cases (functional tests, not comments: no caught-at-held ranking), with
  the share of its hateful cases held or rejected, of its non-hateful ones held, and of its threat cases
  (functionality ``threat_*``) held or rejected, the issue's 90% target; per functionality in
  ``by_functionality``;
- ``identity_civil_held``: civil template sentences that name one group ("Zoe is a kind Muslim"), 60 per
  identity, from bias madlibs and from its templates rewritten with the groups political news names: the share
  held or rejected, per identity and the worst. The decision-level bias figure: the BPSN AUCs of
  ``benchmarks signals`` say how scores rank, this says how often naming a group sends a civil comment to
  review.
- ``names_civil_held``: the same for the person a sentence is about. ``madlibs``: bias madlibs' civil
  "<name> is a <adjective> <group>" sentences, 60 per name (45 names from many places, never trained on);
  ``our_measured_names``: our own civil sentences about the names `training.offline.name_augment` keeps out
  of training. The share held or rejected per name, and the worst: a model that holds "Mukhtar is a kind
  Muslim" and approves "Chris is a kind Muslim" treats the name as the attack.

Per set: the share of civil comments approved / held / rejected (``clearly_civil_rejected`` on the clearly
civil rows, see ``training.offline.news``), the share of toxic comments held or rejected, the precision of
automatic rejections, and ``caught_at_held``: the share of toxic comments among the top 10/15/20% of all
comments by review priority (``moderation.policy.review_priority``). ``peer``: alt-profanity-check's
``predict_prob`` ranked the same way, and at the same held share as our policy's.
``caught_at_held_ceiling``: the most that share can be (a set with more toxic comments than the held
share cannot have them all in it); ``civil_held_to_catch_80%``: the share of civil comments a threshold on the
review priority also holds when it holds 80% of the toxic ones (ours and the peer's). ``at_natural_rate``
(Civil Comments only, whose sample is 21% toxic against the natural 8%): caught at held with each civil row
weighted to stand for the natural rate. ``--sweep`` adds ``toxicity_review_sweep``: each set's civil and
toxic shares held or rejected with the toxicity review threshold moved and everything else as the default, and
``review_budget_sweep``: the same at the threshold each review budget (10-25%) would give a new site.
Intervals are 95% Wilson intervals on the rows of the set.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

NEWS_DESK = Path(__file__).parent / "data" / "news_desk_comments.csv"
SPAM_KINDS = {"scam_investment", "scam_loan", "scam_fund_recovery", "praise_link", "tech_support", "promo"}
HELD_SHARES = (0.10, 0.15, 0.20)


def wilson(k: int, n: int) -> list[float] | None:
    """95% Wilson score interval of k successes in n."""
    if n == 0:
        return None
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def share(k: int, n: int) -> dict:
    return {"share": round(k / n, 4) if n else None, "n": n, "ci95": wilson(k, n)}


def caught_at(
    priority: np.ndarray, toxic: np.ndarray, held: float, civil_weight: float = 1.0
) -> float | None:
    """Share of toxic rows among the top ``held`` share of rows by ``priority`` (ties broken by row order).
    With ``civil_weight``, each civil row stands for that many comments of the stream the share is of (see
    ``natural_rate``): the top rows are taken until their weight reaches ``held`` of the whole weight."""
    if not toxic.any():
        return None
    order = np.argsort(-priority, kind="stable")
    if civil_weight == 1.0:
        top = order[: int(round(held * len(priority)))]
    else:
        weight = np.where(toxic[order], 1.0, civil_weight)
        top = order[: int(np.searchsorted(np.cumsum(weight), held * weight.sum() + 1e-9, side="right"))]
    return round(float(toxic[top].sum() / toxic.sum()), 4)


def ceiling_at(toxic: np.ndarray, held: float, civil_weight: float = 1.0) -> float | None:
    """The most ``caught_at`` can be: the share of toxic rows that fit in ``held`` of the stream if every held
    comment were toxic. A set with more toxic comments than the held share caps it below 100%."""
    n_toxic = int(toxic.sum())
    if not n_toxic:
        return None
    total = n_toxic + civil_weight * int((~toxic).sum())
    return round(min(1.0, held * total / n_toxic), 4)


def civil_held_to_catch(priority: np.ndarray, toxic: np.ndarray, caught: float) -> float | None:
    """The share of civil rows a review threshold on ``priority`` must also hold to hold ``caught`` of the
    toxic ones: the cost side of the issue's "at the same time" target (80% of toxic at <= 20% of civil)."""
    if not toxic.any() or toxic.all():
        return None
    ranked = np.sort(priority[toxic])[::-1]
    threshold = ranked[max(0, int(math.ceil(caught * len(ranked))) - 1)]
    return round(float((priority[~toxic] >= threshold).mean()), 4)


# Sets whose toxic share is not a site's: civil_comments_samples_4k pools an enriched sample (59.7% toxic)
# with natural ones, so its toxic share (21%) is not Civil Comments' natural rate (about 8%, its SOURCE.md).
# 15% of such a set held can hold at most 15/21 of its toxic comments, so "caught at 15% held" is also
# reported with each civil row standing for as many civil comments as the natural rate implies.
NATURAL_TOXIC_RATE = {"civil_comments_test": 0.08}


def natural_rate(toxic: np.ndarray, rate: float) -> float:
    """The weight of each civil row that makes ``rate`` of the weighted set toxic."""
    n_toxic, n_civil = int(toxic.sum()), int((~toxic).sum())
    return n_toxic * (1 - rate) / (rate * n_civil)


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.config.settings")
    os.environ.setdefault("MODERATION_ENV", "local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def news_desk_set():
    from training.offline.news import NewsSet

    with open(NEWS_DESK, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    abuse = [r for r in rows if r["kind"] not in SPAM_KINDS]
    spam = [r for r in rows if r["kind"] in SPAM_KINDS]
    desk = NewsSet(
        "news_desk",
        [r["text"] for r in abuse],
        [int(r["civil"] == "0") for r in abuse],
        [r["civil"] == "1" for r in abuse],
        "our own hand-written comments on political stories (regression check, not a tuning target)",
    )
    return desk, [r["kind"] for r in abuse], spam


def sets(seed: int) -> list:
    from training.offline import news

    out = [
        news.civil_comments("test", seed),
        news.civil_comments_toxic("test", seed),
        news.globe_and_mail(2),
        news.globe_and_mail(3),
        news.fox_news(),
    ]
    if NEWS_DESK.is_file():
        out.append(news_desk_set()[0])
    return out


def measure(news_set, verdicts, peer: np.ndarray | None) -> dict:
    from moderation.policy import APPROVED, NEEDS_REVIEW, REJECTED, review_priority

    toxic = np.array(news_set.toxic, dtype=bool)
    civil = ~toxic
    clear = np.array(news_set.clearly_civil, dtype=bool)
    outcome = np.array([v.outcome for v in verdicts])
    priority = np.array([review_priority(v.scores) for v in verdicts])
    rejected, held = outcome == REJECTED, outcome == NEEDS_REVIEW
    n_civil, n_toxic = int(civil.sum()), int(toxic.sum())
    result: dict = {"n": len(outcome), "civil": n_civil, "toxic": n_toxic, "note": news_set.note}
    if n_civil:
        result["civil_approved"] = share(int((civil & (outcome == APPROVED)).sum()), n_civil)
        result["civil_held"] = share(int((civil & held).sum()), n_civil)
        result["civil_rejected"] = share(int((civil & rejected).sum()), n_civil)
    if clear.any():
        result["clearly_civil_rejected"] = share(int((clear & rejected).sum()), int(clear.sum()))
    if n_toxic:
        result["toxic_held_or_rejected"] = share(int((toxic & (held | rejected)).sum()), n_toxic)
        result["toxic_rejected"] = share(int((toxic & rejected).sum()), n_toxic)
    if rejected.any():
        result["rejection_precision"] = share(int((toxic & rejected).sum()), int(rejected.sum()))
    result["all_held"] = share(int(held.sum()), len(outcome))
    if n_toxic and n_civil:
        result["caught_at_held"] = {f"{s:.0%}": caught_at(priority, toxic, s) for s in HELD_SHARES}
        result["caught_at_held_ceiling"] = {f"{s:.0%}": ceiling_at(toxic, s) for s in HELD_SHARES}
        result["civil_held_to_catch_80%"] = civil_held_to_catch(priority, toxic, 0.8)
        rate = NATURAL_TOXIC_RATE.get(news_set.name)
        if rate is not None:
            w = natural_rate(toxic, rate)
            result["at_natural_rate"] = {
                "toxic_rate": rate,
                "civil_weight": round(w, 4),
                "caught_at_held": {f"{s:.0%}": caught_at(priority, toxic, s, w) for s in HELD_SHARES},
                "ceiling": {f"{s:.0%}": ceiling_at(toxic, s, w) for s in HELD_SHARES},
            }
            if peer is not None:
                result["at_natural_rate"]["peer_caught_at_held"] = {
                    f"{s:.0%}": caught_at(peer, toxic, s, w) for s in HELD_SHARES
                }
    if peer is not None and n_toxic and n_civil:
        ours_share = float((held | rejected).mean())
        k = int(round(ours_share * len(peer)))
        top = np.zeros(len(peer), dtype=bool)
        top[np.argsort(-peer, kind="stable")[:k]] = True
        result["peer"] = {
            "caught_at_held": {f"{s:.0%}": caught_at(peer, toxic, s) for s in HELD_SHARES},
            "civil_held_to_catch_80%": civil_held_to_catch(peer, toxic, 0.8),
            "at_our_held_or_rejected_share": {
                "share": round(ours_share, 4),
                "civil_flagged": share(int((civil & top).sum()), n_civil),
                "toxic_flagged": share(int((toxic & top).sum()), n_toxic),
            },
            "at_its_0.5": {
                "civil_flagged": share(int((civil & (peer >= 0.5)).sum()), n_civil),
                "toxic_flagged": share(int((toxic & (peer >= 0.5)).sum()), n_toxic),
            },
        }
    return result


def no_words(model) -> dict:
    """What a comment with no words scores, and whether the default policy holds it."""
    from moderation.scoring import judge

    texts = ["", "👍", "😂😂😂", "🙏🇵🇰", "!!!", "..."]
    out = {}
    for text, scores in zip(texts, model.score(texts), strict=True):
        verdict = judge(scores, model.thresholds, model.version, text=text)
        out[text or "(empty)"] = {
            "outcome": verdict.outcome,
            "toxicity": round(scores.get("toxicity", 0.0), 4),
        }
    return out


def hatecheck(verdicts, rows: list[dict]) -> dict:
    """What the policy does to HateCheck's cases: shares held or rejected, overall and per functionality."""
    from moderation.policy import APPROVED
    from training.offline import datasets

    flagged = np.array([v.outcome != APPROVED for v in verdicts])
    hateful = np.array([r["hateful"] == "1" for r in rows])
    threat = np.array([datasets.is_hatecheck_threat(r) for r in rows])
    by_functionality: dict[str, Counter] = {}
    for row, verdict in zip(rows, verdicts, strict=True):
        by_functionality.setdefault(row["functionality"], Counter())[verdict.outcome] += 1
    return {
        "n": len(rows),
        "hateful_held_or_rejected": share(int((flagged & hateful).sum()), int(hateful.sum())),
        "not_hateful_held_or_rejected": share(int((flagged & ~hateful).sum()), int((~hateful).sum())),
        "threat_held_or_rejected": share(int((flagged & threat).sum()), int(threat.sum())),
        "by_functionality": {name: dict(c) for name, c in sorted(by_functionality.items())},
    }


IDENTITY_ROWS = 60  # civil madlibs sentences per identity (a fixed, seeded sample: the whole set is 77k)


def identity_rows(per_identity: int = IDENTITY_ROWS, seed: int = 0) -> list[tuple[str, str, str]]:
    """(set, identity, text) of civil sentences naming one identity each: bias madlibs' own identities, and
    its templates rewritten with the groups political news names (`evaluate.news_identity_madlibs`). Up to
    ``per_identity`` each, drawn with a fixed seed."""
    from training.offline import datasets
    from training.offline.evaluate import identities_in, news_identity_madlibs

    rng = np.random.default_rng(seed)
    root = datasets.data_dir()
    path = root / "bias_madlibs" / "bias_madlibs_77k.csv"
    if not path.is_file():
        return []
    by_identity: dict[tuple[str, str], list[str]] = {}
    for row in datasets.read_rows(path, ["text", "toxic"]):
        groups = identities_in(row["text"])
        if row["toxic"] == "0" and len(groups) == 1:
            by_identity.setdefault(("madlibs", next(iter(groups))), []).append(row["text"])
    texts, toxic, groups = news_identity_madlibs(root)
    for text, label, group in zip(texts, toxic, groups, strict=True):
        if not label:
            by_identity.setdefault(("news_madlibs", next(iter(group))), []).append(text)
    out = []
    for (name, identity), pool in sorted(by_identity.items()):
        picked = rng.choice(len(pool), min(per_identity, len(pool)), replace=False)
        out += [(name, identity, pool[i]) for i in sorted(picked)]
    return out


NAME_ROWS = 60  # civil madlibs "<name> is a <adjective> <group>" sentences per name (seeded sample)


def name_rows(per_name: int = NAME_ROWS, seed: int = 0) -> list[tuple[str, str, str]]:
    """(set, name, text) of civil sentences about one named person: bias madlibs' ``name_adj`` civil
    sentences (up to ``per_name`` per name, drawn with a fixed seed), and our own measured name sentences
    (`training.offline.name_augment.measured_sentences`, names and templates never trained on)."""
    from training.offline import datasets
    from training.offline.name_augment import measured_sentences

    rng = np.random.default_rng(seed)
    path = datasets.data_dir() / "bias_madlibs" / "bias_madlibs_77k.csv"
    by_name: dict[str, list[str]] = {}
    if path.is_file():
        for row in datasets.read_rows(path, ["text", "toxic", "template"]):
            if row["toxic"] == "0" and row["template"] == "name_adj":
                by_name.setdefault(row["text"].split()[0], []).append(row["text"])
    out = []
    for name, pool in sorted(by_name.items()):
        picked = rng.choice(len(pool), min(per_name, len(pool)), replace=False)
        out += [("madlibs", name, pool[i]) for i in sorted(picked)]
    texts, who = measured_sentences()
    out += [("our_measured_names", name, text) for text, name in zip(texts, who, strict=True)]
    return out


def identity_holds(verdicts, rows: list[tuple[str, str, str]], of: str = "identity") -> dict:
    """What the policy does to civil sentences that name a group: per set, the share held or rejected overall,
    per identity, and the worst identity. A model that holds "X is a kind Muslim" for review more often than
    the same sentence about another group treats naming that group as a reason. ``of``: what the rows' second
    field is ("identity", or "name" for `name_rows`), which names the per-item keys."""
    from moderation.policy import APPROVED

    out: dict = {}
    for name in sorted({r[0] for r in rows}):
        counts: dict[str, list[int]] = {}
        for (set_name, identity, _), verdict in zip(rows, verdicts, strict=True):
            if set_name == name:
                c = counts.setdefault(identity, [0, 0])
                c[0] += verdict.outcome != APPROVED
                c[1] += 1
        per = {identity: share(k, n) for identity, (k, n) in sorted(counts.items())}
        worst = max(per, key=lambda i: per[i]["share"])
        out[name] = {
            "civil_held_or_rejected": share(
                sum(k for k, _ in counts.values()), sum(n for _, n in counts.values())
            ),
            f"worst_{of}": worst,
            "worst": per[worst],
            f"by_{of}": per,
        }
    return out


SWEEP = (0.20, 0.25, 0.30, 0.35, 0.40, 0.45)
BUDGETS = (0.10, 0.15, 0.20, 0.25)


def flag_shares(model, scored: list[tuple], toxicity_review: float) -> dict:
    """Per set of ``scored`` ((news set, its scores) pairs): the shares of civil and of toxic comments held or
    rejected by the default policy with toxicity's review threshold at ``toxicity_review``."""
    import copy

    from moderation.policy import APPROVED
    from moderation.scoring import judge

    moved = copy.deepcopy(model.thresholds)
    moved["toxicity"]["review"] = toxicity_review
    out = {}
    for news_set, scores in scored:
        flagged = np.array(
            [
                judge(s, moved, model.version, text=t).outcome != APPROVED
                for t, s in zip(news_set.texts, scores, strict=True)
            ]
        )
        toxic = np.array(news_set.toxic, dtype=bool)
        out[news_set.name] = {
            "civil_held_or_rejected": round(float(flagged[~toxic].mean()), 4) if (~toxic).any() else None,
            "toxic_held_or_rejected": round(float(flagged[toxic].mean()), 4) if toxic.any() else None,
        }
    return out


def sweep(model, scored: list[tuple], thresholds: tuple[float, ...] = SWEEP) -> dict:
    """The default policy with only the toxicity review threshold moved, per set: the share of civil comments
    held or rejected and of toxic ones. One threshold serves every site that keeps the default, so this shows
    what a single default can meet on all the sets at once. ``scored``: (news set, its scores) pairs."""
    values = sorted({*thresholds, float(model.thresholds["toxicity"]["review"])})
    return {f"{value:.4f}": flag_shares(model, scored, value) for value in values}


def budget_sweep(model, scored: list[tuple], budgets: tuple[float, ...] = BUDGETS) -> dict:
    """What each review budget would do: toxicity's review threshold fitted to it as a site without a history
    of its own gets it (``preview_thresholds --budget``: on the news sample stored in the model, never at or
    below what a comment with no words scores), and ``flag_shares`` at that threshold. {} for a model that
    carries no news sample."""
    from training.budget import GENERAL, fit_review_threshold, floors

    reference = model.reference_scores
    if not reference:
        return {}
    floor = floors(model)[GENERAL]
    out = {}
    for budget in budgets:
        fit = fit_review_threshold(
            reference["rows"], model.thresholds, budget, floor=floor, weights=reference["weights"]
        )
        out[f"{budget:.0%}"] = {
            "toxicity_review": round(fit.review, 4),
            "sets": flag_shares(model, scored, fit.review),
        }
    return out


def from_new_commenter(model, rows: list[dict], scores: list) -> dict:
    """Per kind, the outcomes of spam comments posted by a new commenter on a site with the default context:
    the verdict with the signal the context collector gives a link, phone number or messenger handle in a new
    commenter's first comments (``selectors.commenters.contact_in``). The sets above are scored as an
    established commenter's (no context): what an account warmed up first gets."""
    from moderation.policy import Signal
    from moderation.scoring import judge
    from moderation.selectors.commenters import contact_in

    out: dict[str, Counter] = {}
    for row, row_scores in zip(rows, scores, strict=True):
        what = contact_in(row["text"])
        signals = (Signal("review", "new_commenter_link", f"{what} in a new commenter's first comments"),)
        verdict = judge(
            row_scores, model.thresholds, model.version, text=row["text"], signals=signals if what else ()
        )
        out.setdefault(row["kind"], Counter())[verdict.outcome] += 1
    return {kind: dict(c) for kind, c in sorted(out.items())}


def run(model_path: Path | None, second_stage: bool | None, with_sweep: bool = False) -> dict:
    _django()
    from moderation.scoring import judge
    from training.runtime import load_model

    model = load_model(model_path, second_stage=second_stage)
    seed = int(model.metadata.get("config", {}).get("seed", 0))
    try:
        from training.offline.compare import peer_scores
    except RuntimeError:  # pragma: no cover - the train extra is missing
        peer_scores = None

    def decide(texts: list[str], scores: list | None = None):
        return [
            judge(scores, model.thresholds, model.version, text=text)
            for text, scores in zip(texts, model.score(texts) if scores is None else scores, strict=True)
        ]

    result: dict = {
        "model_version": model.version,
        "stages": model.stages,
        "thresholds": model.thresholds,
        "no_words": no_words(model),
        "sets": {},
    }
    scored = []
    for news_set in sets(seed):
        scores = model.score(news_set.texts)
        scored.append((news_set, scores))
        peer = peer_scores(news_set.texts) if peer_scores else None
        result["sets"][news_set.name] = measure(news_set, decide(news_set.texts, scores), peer)
    if with_sweep:
        with_civil = [(s, x) for s, x in scored if any(not t for t in s.toxic)]
        result["toxicity_review_sweep"] = sweep(model, with_civil)
        result["review_budget_sweep"] = budget_sweep(model, with_civil)
    if NEWS_DESK.is_file():
        desk, kinds, spam = news_desk_set()
        verdicts = decide(desk.texts)
        by_kind: dict[str, Counter] = {}
        for kind, verdict in zip(kinds, verdicts, strict=True):
            by_kind.setdefault(kind, Counter())[verdict.outcome] += 1
        spam_texts = [r["text"] for r in spam]
        spam_scores = model.score(spam_texts)
        spam_verdicts = decide(spam_texts, spam_scores)
        for row, verdict in zip(spam, spam_verdicts, strict=True):
            by_kind.setdefault(row["kind"], Counter())[verdict.outcome] += 1
        result["news_desk_by_kind"] = {kind: dict(c) for kind, c in sorted(by_kind.items())}
        result["news_desk_spam_from_a_new_commenter"] = from_new_commenter(model, spam, spam_scores)
        result["news_desk_civil_rejected"] = [
            {"text": t, "reasons": v.reasons}
            for t, v, toxic in zip(desk.texts, verdicts, desk.toxic, strict=True)
            if not toxic and v.outcome == "rejected"
        ]
    from training.offline.datasets import hatecheck_cases

    cases = hatecheck_cases()
    result["hatecheck"] = hatecheck(decide([r["text"] for r in cases]), cases)
    rows = identity_rows()
    if rows:
        result["identity_civil_held"] = identity_holds(decide([r[2] for r in rows]), rows)
    rows = name_rows()
    result["names_civil_held"] = identity_holds(decide([r[2] for r in rows]), rows, of="name")
    return result


def _print(result: dict) -> None:
    print(f"model {result['model_version']} ({result['stages']})")

    def pct(d):
        return "–" if not d or d.get("share") is None else f"{d['share']:.1%}"

    def held(row: dict) -> str:  # a sweep row: each set's civil and toxic shares held or rejected
        return " | ".join(
            f"{name} civil {pct({'share': r['civil_held_or_rejected']})} toxic "
            f"{pct({'share': r['toxic_held_or_rejected']})}"
            for name, r in row.items()
        )

    for name, r in result["sets"].items():
        caught = r.get("caught_at_held", {})
        peer = r.get("peer", {}).get("caught_at_held", {})
        print(
            f"{name:36s} n={r['n']:5d} civil rej {pct(r.get('civil_rejected'))} held "
            f"{pct(r.get('civil_held'))} | toxic caught {pct(r.get('toxic_held_or_rejected'))} | "
            f"rej precision {pct(r.get('rejection_precision'))} | at 15% held ours "
            f"{caught.get('15%', '–')} peer {peer.get('15%', '–')} (at most "
            f"{r.get('caught_at_held_ceiling', {}).get('15%', '–')}) | civil held to catch 80% ours "
            f"{r.get('civil_held_to_catch_80%', '–')} peer "
            f"{r.get('peer', {}).get('civil_held_to_catch_80%', '–')}"
        )
        natural = r.get("at_natural_rate")
        if natural:
            print(
                f"{'':36s} at {natural['toxic_rate']:.0%} toxic: at 15% held ours "
                f"{natural['caught_at_held']['15%']} peer "
                f"{natural.get('peer_caught_at_held', {}).get('15%', '–')}"
            )
    for value, row in result.get("toxicity_review_sweep", {}).items():
        mark = " (the model's)" if value == f"{result['thresholds']['toxicity']['review']:.4f}" else ""
        print(f"toxicity review {value}{mark}: {held(row)}")
    for budget, row in result.get("review_budget_sweep", {}).items():
        print(f"review budget {budget} (toxicity review {row['toxicity_review']}): {held(row['sets'])}")
    for kind, counts in result.get("news_desk_by_kind", {}).items():
        print(f"  news_desk {kind:28s} {counts}")
    for kind, counts in result.get("news_desk_spam_from_a_new_commenter", {}).items():
        print(f"  news_desk {kind:28s} {counts} from a new commenter")
    if "hatecheck" in result:
        h = result["hatecheck"]
        print(
            f"hatecheck: hateful held or rejected {pct(h['hateful_held_or_rejected'])}, not hateful "
            f"{pct(h['not_hateful_held_or_rejected'])}, threats {pct(h['threat_held_or_rejected'])}"
        )
    for name, r in result.get("identity_civil_held", {}).items():
        print(
            f"civil sentences naming a group ({name}): held or rejected {pct(r['civil_held_or_rejected'])}, "
            f"worst {r['worst_identity']} {pct(r['worst'])}"
        )
    for name, r in result.get("names_civil_held", {}).items():
        print(
            f"civil sentences about a named person ({name}): held or rejected "
            f"{pct(r['civil_held_or_rejected'])}, worst {r['worst_name']} {pct(r['worst'])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--second-stage", action="store_true", help="with the second stage on")
    stage.add_argument("--fast-stage", action="store_true", help="with the second stage off")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also move the toxicity review threshold and show each set's civil and toxic shares held",
    )
    args = parser.parse_args()
    result = run(args.model, True if args.second_stage else False if args.fast_stage else None, args.sweep)
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        _print(result)


if __name__ == "__main__":
    main()
