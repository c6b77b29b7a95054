"""Estimators referenced by pickled model artifacts.

VERSIONED CONTRACT: every shipped `models/*.joblib` stores instances of these classes by their import path
(`training.features.TextNormalizer`, `training.features.LinearHeads`). Do not rename or move them, and keep
their fitted attributes readable by older artifacts; add a new class instead of changing one incompatibly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from training.normalize import normalize

__all__ = [
    "TextNormalizer",
    "LinearHeads",
    "CachedCharTfidf",
    "TextShapeFeatures",
    "PhoneNumberFeatures",
    "phone_number",
]


class _StatelessTextTransformer(TransformerMixin, BaseEstimator):
    """Base of the transformers that take a list of texts and learn nothing in `fit`."""

    def fit(self, X, y=None):  # noqa: N803 - scikit-learn naming
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class TextNormalizer(_StatelessTextTransformer):
    """Stateless transformer: list of raw texts -> list of `training.normalize.normalize` outputs."""

    def transform(self, X):  # noqa: N803
        return [normalize(text) for text in X]


class CachedCharTfidf(TfidfVectorizer):
    """`TfidfVectorizer(analyzer="char_wb")` with a faster `transform` for already-normalised text.

    char_wb n-grams never cross whitespace, so a document's counts are the sum of its words' counts. The
    vocabulary ids of each distinct word's n-grams are computed once and cached (bounded, not pickled), which
    makes scoring several times faster than scikit-learn's per-document n-gram loop. Output is identical to
    `TfidfVectorizer.transform` (a unit test checks it). Fit is scikit-learn's own. Only `analyzer="char_wb"`
    with `lowercase=False` and no preprocessor is supported, since the text arrives normalised.
    """

    _CACHE_LIMIT = 300_000

    def fit(self, raw_documents, y=None):
        self._check_supported()
        return super().fit(raw_documents, y)

    def fit_transform(self, raw_documents, y=None):
        self._check_supported()
        return super().fit_transform(raw_documents, y)

    def _check_supported(self) -> None:
        if self.analyzer != "char_wb" or self.lowercase or self.preprocessor is not None:
            raise ValueError("CachedCharTfidf needs analyzer='char_wb', lowercase=False, preprocessor=None")

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_word_cache", None)
        return state

    def _word_ids(self, word: str, cache: dict) -> tuple[int, ...]:
        ids = cache.get(word)
        if ids is None:
            vocab = self.vocabulary_
            ids = tuple(vocab[g] for g in self._char_wb_ngrams(word) if g in vocab)
            if len(cache) >= self._CACHE_LIMIT:
                cache.clear()
            cache[word] = ids
        return ids

    def transform(self, raw_documents):
        if isinstance(raw_documents, str):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        cache = self.__dict__.setdefault("_word_cache", {})
        indices: list[int] = []
        indptr = [0]
        word_ids = self._word_ids
        for doc in raw_documents:
            for word in doc.split():
                indices.extend(word_ids(word, cache))
            indptr.append(len(indices))
        counts = sparse.csr_matrix(
            (
                np.ones(len(indices), dtype=self.dtype),
                np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(indptr) - 1, len(self.vocabulary_)),
        )
        counts.sum_duplicates()
        return self._tfidf.transform(counts, copy=False)


# A web address in normalised text: a scheme, "www.", or a host under a common top-level domain.
_LINK_RE = re.compile(
    r"https?://\S+|\bwww\.\S+|\b[a-z0-9-]+\.(?:com|net|org|info|biz|co|ly|tv|me|us|uk|de|nl|ru|io|gl|xyz"
    r"|online|site|club|gg)\b\S*"
)


class TextShapeFeatures(_StatelessTextTransformer):
    """Five dense features of a normalised text that word and character n-grams miss: how many links it has
    (capped at 3), whether it has one, whether it is little more than a link (3 words or fewer), its length
    (log of the word count) and its share of digits. Spam is often a bare link or a short "check my channel"
    line; an n-gram model sees "https" and the pieces of a random host name, which mean nothing on their own.

    Stateless (fit learns nothing). `scale` multiplies every value, so the features are not drowned by the
    L2-regularised n-gram columns.
    """

    feature_names = ("links", "has_link", "link_only", "log_words", "digit_share")

    def __init__(self, scale: float = 3.0):
        self.scale = scale

    def transform(self, X):  # noqa: N803
        if isinstance(X, str):
            raise ValueError("Iterable over normalised texts expected, string object received.")
        rows = []
        for text in X:
            links = len(_LINK_RE.findall(text))
            words = len(text.split())
            digits = sum(c.isdigit() for c in text)
            rows.append(
                (
                    min(links, 3) / 3,
                    float(links > 0),
                    float(links > 0 and words <= 3),
                    np.log1p(words) / 6,
                    digits / max(len(text), 1),
                )
            )
        values = np.asarray(rows, dtype=np.float32).reshape(-1, len(self.feature_names)) * self.scale
        return sparse.csr_matrix(values)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.feature_names, dtype=object)


# A telephone number in normalised text (where a run of three or more equal characters is squashed to two, so
# "555" reads "55"): an international number ("+1 555 0133", "+44 7700 900234"), a North American one with
# its groups ("1-800-242-0363", "(555) 123-4567") or a national one with the trunk 0 ("09061701461",
# "0800 123 4567"). IP addresses, dates, prices and long ids do not match: their digits come with dots,
# slashes, commas or none of the groups above.
_PHONE_RE = re.compile(
    r"(?<![\w.,/])(?:"
    r"\+\d{1,3}(?:[ \-]?\(?\d\)?){6,13}"
    r"|(?:1[ \-])?(?:\(\d{2,3}\) ?|\d{2,3}[ \-])\d{2,3}[ \-]\d{3,4}"
    r"|0\d{2,4}[ \-]?\d{3,4}[ \-]?\d{3,4}"
    r")(?![\w.,/]\w|\w)"
)


def phone_number(normalised: str) -> str | None:
    """The first telephone number in a normalised text (`_PHONE_RE`), or None."""
    match = _PHONE_RE.search(normalised)
    return match.group(0) if match else None


class PhoneNumberFeatures(_StatelessTextTransformer):
    """One dense feature of a normalised text: whether it gives a telephone number (`phone_number`). Scam and
    fake-support comments ask readers to call or message a number ("WhatsApp +1 555 0133", "call the helpline
    +44 7700 900678"); n-grams see only the pieces of a number that is new each time, and civil news comments
    almost never give one (0.1% of the Civil Comments samples; 56% of SMS spam, 25% of e-mail spam).

    Stateless; `scale` as in `TextShapeFeatures`. A feature block of its own (not a sixth column of
    `TextShapeFeatures`), so artifacts pickled with the five shape features read as before.
    """

    feature_names = ("phone_number",)

    def __init__(self, scale: float = 3.0):
        self.scale = scale

    def transform(self, X):  # noqa: N803
        if isinstance(X, str):
            raise ValueError("Iterable over normalised texts expected, string object received.")
        values = np.asarray([float(phone_number(text) is not None) for text in X], dtype=np.float32)
        return sparse.csr_matrix(values.reshape(-1, 1) * self.scale)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.feature_names, dtype=object)


def _expand_soft_labels(y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn fractional targets into a weighted positive row plus a weighted negative row.

    Returns (row_index, binary_target, weight). A row with target p and weight w becomes (1, p*w) and
    (0, (1-p)*w), which is what logistic loss on a soft target means.
    """
    rows = np.arange(len(y))
    hard = (y == 0) | (y == 1)
    soft = ~hard
    idx = np.concatenate([rows[hard], rows[soft], rows[soft]])
    target = np.concatenate([y[hard], np.ones(soft.sum()), np.zeros(soft.sum())])
    w = np.concatenate([weight[hard], weight[soft] * y[soft], weight[soft] * (1 - y[soft])])
    keep = w > 0
    return idx[keep], target[keep].astype(np.int8), w[keep]


def _nb_scale(X, positive: np.ndarray, alpha: float = 1.0) -> np.ndarray:  # noqa: N803
    """|log((p / |p|) / (q / |q|))| per column, p and q the feature sums of positive and negative rows plus
    `alpha`."""
    p = np.asarray(X[positive].sum(axis=0)).ravel() + alpha
    q = np.asarray(X[~positive].sum(axis=0)).ravel() + alpha
    return np.abs(np.log((p / p.sum()) / (q / q.sum()))).astype(np.float32)


class LinearHeads(BaseEstimator):
    """One L2 logistic regression per label over a shared sparse feature matrix.

    fit(X, Y, sample_weight): `Y` is (n_samples, n_labels) with values in [0, 1] or NaN; NaN means "this
    source says nothing about this label" and the row is left out of that label's model; fractional values are
    soft targets. After fit, `coef_` (n_features, n_labels, float32) and `intercept_` (n_labels,) let
    `predict_proba` score every label with one sparse matrix product.

    Parameters: `labels` names the columns of `Y`; `C` is the inverse regularisation strength, a float or a
    {label: float} mapping; `class_weight` as in LogisticRegression; `max_iter` for the solver; `nb_labels`:
    labels fitted on naive-Bayes-scaled features (NB-LR, Wang & Manning 2012): each column is multiplied by
    |log-count ratio| of the label's positive (target >= 0.5) and negative rows, so the regulariser spends
    less on columns that say little either way. The scaling is folded into `coef_`, so scoring is unchanged.
    """

    def __init__(
        self,
        labels: Sequence[str] = (),
        C=4.0,  # noqa: N803
        class_weight=None,
        max_iter: int = 1000,
        nb_labels: Sequence[str] = (),
    ):
        self.labels = labels
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.nb_labels = nb_labels

    def _c_for(self, label: str) -> float:
        return float(self.C[label]) if isinstance(self.C, dict) else float(self.C)

    def fit(self, X, Y, sample_weight=None):  # noqa: N803
        X = sparse.csr_matrix(X)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim != 2 or Y.shape[1] != len(self.labels):
            raise ValueError(f"Y must have shape (n_samples, {len(self.labels)}), got {Y.shape}")
        weight = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        coef = np.zeros((X.shape[1], len(self.labels)), dtype=np.float32)
        intercept = np.zeros(len(self.labels), dtype=np.float64)
        self.n_train_rows_ = {}
        for j, label in enumerate(self.labels):
            known = ~np.isnan(Y[:, j])
            rows = np.flatnonzero(known)
            idx, target, w = _expand_soft_labels(Y[rows, j], weight[rows])
            rows = rows[idx]
            self.n_train_rows_[label] = int(known.sum())
            if len(np.unique(target)) < 2:
                # Tiny samples (smoke tests) can lack a class: fall back to the base rate, no features.
                rate = float(np.clip((target * w).sum() / max(w.sum(), 1e-12), 1e-4, 1 - 1e-4))
                intercept[j] = np.log(rate / (1 - rate))
                continue
            from sklearn.linear_model import LogisticRegression  # training only; keeps scoring imports light

            model = LogisticRegression(
                C=self._c_for(label),
                class_weight=self.class_weight,
                solver="liblinear",
                max_iter=self.max_iter,
            )
            scale = None
            if label in getattr(self, "nb_labels", ()):
                scale = _nb_scale(X[known], Y[known, j] >= 0.5)
            x = X[rows] if scale is None else X[rows] @ sparse.diags(scale)
            model.fit(x, target, sample_weight=w * (len(w) / w.sum()))
            coef[:, j] = model.coef_[0] if scale is None else model.coef_[0] * scale
            intercept[j] = model.intercept_[0]
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:  # noqa: N803
        return np.asarray(X @ self.coef_) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        """(n_samples, n_labels) probabilities, one column per entry of `labels`."""
        z = np.clip(self.decision_function(X), -35.0, 35.0)
        return 1.0 / (1.0 + np.exp(-z))
