"""Estimators pickled inside artifacts."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from training.features import CachedCharTfidf, LinearHeads, TextNormalizer, TextShapeFeatures

DOCS = [
    "you are an idiot",
    "thanks for the article",
    "idiots everywhere",
    "a b c",
    "",
    "the council voted no",
    "what an idiot idea",
    "thanks again",
] * 3


def test_cached_char_tfidf_matches_sklearn():
    kw = dict(
        analyzer="char_wb", ngram_range=(2, 5), lowercase=False, sublinear_tf=True, min_df=1, dtype=np.float32
    )
    ours = CachedCharTfidf(**kw).fit(DOCS)
    ref = TfidfVectorizer(**kw).fit(DOCS)
    new = ["idiot council", "unseen wordsss here", ""]
    for _ in range(2):  # second pass hits the word cache
        assert abs(ours.transform(new) - ref.transform(new)).max() == 0
    assert "_word_cache" not in CachedCharTfidf.__getstate__(ours)


def test_cached_char_tfidf_refuses_other_analyzers():
    with pytest.raises(ValueError, match="char_wb"):
        CachedCharTfidf(analyzer="word").fit(DOCS)


def test_linear_heads_skip_unknown_labels_and_take_soft_targets():
    x = TfidfVectorizer().fit_transform(DOCS)
    y = np.array([[1.0 if "idiot" in d else 0.0, np.nan if i % 2 else 0.3] for i, d in enumerate(DOCS)])
    heads = LinearHeads(labels=["a", "b"]).fit(x, y)
    p = heads.predict_proba(x)
    assert p.shape == (len(DOCS), 2) and ((p >= 0) & (p <= 1)).all()
    assert heads.n_train_rows_ == {"a": len(DOCS), "b": int((~np.isnan(y[:, 1])).sum())}
    assert p[0, 0] > p[1, 0]


def test_text_normalizer_is_stateless():
    assert TextNormalizer().fit_transform(["ＨＥＬＬＯ  wörld"]) == ["hello world"]


def test_text_shape_features_see_links_and_bare_links():
    shape = TextShapeFeatures(scale=1.0)
    x = shape.fit_transform(
        [
            "https://binbox.io/dnckm#qtaqijbi",
            "check out my channel www.example.com and http://spam.net/x",
            "visit the site hh.nl for cheap ps4 $200",
            "thanks for the article",
            "",
        ]
    ).toarray()
    names = list(shape.get_feature_names_out())
    assert names == ["links", "has_link", "link_only", "log_words", "digit_share"]
    col = {n: x[:, i] for i, n in enumerate(names)}
    assert list(col["has_link"]) == [1, 1, 1, 0, 0]
    assert list(col["link_only"]) == [1, 0, 0, 0, 0]
    assert col["links"][1] == pytest.approx(2 / 3)
    assert col["digit_share"][2] > 0 and col["digit_share"][3] == 0
    assert col["log_words"][1] > col["log_words"][3] > col["log_words"][4] == 0
    assert (TextShapeFeatures(scale=3.0).transform(["http://a.com"]).toarray() == 3 * x[:1]).all()


def test_text_shape_features_refuse_a_bare_string():
    with pytest.raises(ValueError, match="Iterable"):
        TextShapeFeatures().transform("http://a.com")


def test_linear_heads_nb_scaling_is_folded_into_the_coefficients():
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    x = TfidfVectorizer().fit_transform(DOCS)
    y = np.array([[1.0 if "idiot" in d else 0.0] for d in DOCS])
    heads = LinearHeads(labels=["a"], C=2.0, nb_labels=["a"]).fit(x, y)
    pos = y[:, 0] >= 0.5
    p = np.asarray(x[pos].sum(axis=0)).ravel() + 1
    q = np.asarray(x[~pos].sum(axis=0)).ravel() + 1
    scale = np.abs(np.log((p / p.sum()) / (q / q.sum())))
    ref = LogisticRegression(C=2.0, solver="liblinear").fit(x @ sparse.diags(scale), y[:, 0])
    # scoring the raw features with the folded weights is scoring the scaled features with the fitted ones
    assert np.allclose(
        heads.predict_proba(x)[:, 0], ref.predict_proba(x @ sparse.diags(scale))[:, 1], atol=1e-5
    )
    plain = LinearHeads(labels=["a"], C=2.0).fit(x, y)
    assert not np.allclose(plain.coef_, heads.coef_)
