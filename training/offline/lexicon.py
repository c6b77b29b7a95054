"""(Re)build the normaliser's known-word list, ``training/lexicon.txt``.

    python -m training.offline.lexicon      # needs the shared data (training.offline.datasets.data_dir())

The list is read by ``training.normalize`` (serving) and is part of every model's inference path: changing it
changes what shipped models see, so retrain after rebuilding it.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

from training.normalize import LEXICON_PATH, normalize, without_known_words
from training.offline import datasets
from training.offline.pipeline import TrainingConfig, load_corpora

__all__ = ["build_lexicon"]


def build_lexicon(out: Path = LEXICON_PATH, min_texts: int = 3) -> int:
    """Write the known-word list to ``out``: every word (a-z, 2+ letters) of the training corpora's train
    split, normalised without the known-word rewrites, found in at least ``min_texts`` texts, with its
    document count. Needs the shared data (``datasets.data_dir()``, which raises if it is missing). Returns
    the number of words written."""
    with without_known_words():
        config = TrainingConfig()
        root = datasets.data_dir()
        corpora = load_corpora(config, root)
        split = datasets.dedupe_and_split(corpora, datasets.eval_only_keys(root), config.seed)
        counts: collections.Counter[str] = collections.Counter()
        for corpus in split.train:
            for text in corpus.texts:
                counts.update(set(re.findall(r"[a-z]+", normalize(text))))
    words = sorted((w, c) for w, c in counts.items() if c >= min_texts and len(w) >= 2)
    header = (
        f"# Words of the training corpora's train split (normalised, in >= {min_texts} texts) and their "
        "document counts.\n# Built by `python -m training.offline.lexicon`; read by training.normalize. "
        "Part of the model contract.\n"
    )
    out.write_text(header + "".join(f"{w} {c}\n" for w, c in words), encoding="utf-8")
    return len(words)


if __name__ == "__main__":  # pragma: no cover - rebuilds the shipped file from the shared data
    print(f"{build_lexicon()} words written to {LEXICON_PATH}")
