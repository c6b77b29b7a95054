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


def test_phone_number_features_find_numbers_not_dates_addresses_or_prices():
    from training.features import PhoneNumberFeatures
    from training.normalize import normalize

    numbers = [
        "WhatsApp +1 555 0133 to start earning",
        "Call the helpline +44 7700 900234",
        "call 1-800-242-0363 now",
        "ring (555) 123-4567",
        "Call 09061701461 to claim your prize",
        "freephone 0800 123 4567",
        "+92 300 1234567",
    ]
    others = [
        "edit from 24.36.54.238",
        "on 2002-10-09",
        "$50,000 a year",
        "video id 1408122684",
        "the score was 3-2",
        "24/7 coverage",
        "in 2016-17 and 2018-19",
        "1,000,000 people",
        "call 911",
        "ISBN 978-0-14-044926-6",
        "",
    ]
    phone = PhoneNumberFeatures(scale=1.0)
    x = phone.fit_transform([normalize(t) for t in numbers + others]).toarray()
    assert list(phone.get_feature_names_out()) == ["phone_number"]
    assert x[: len(numbers), 0].tolist() == [1.0] * len(numbers)
    assert x[len(numbers) :, 0].tolist() == [0.0] * len(others)
    assert PhoneNumberFeatures(scale=3.0).transform(["call +1 555 0133"]).toarray().tolist() == [[3.0]]
    with pytest.raises(ValueError, match="Iterable"):
        phone.transform("+1 555 0133")
