"""A site's adapter served by a real worker (issue 20 item 5): comments of two sites submitted over HTTP and
decided by a real Celery worker process; the site with an active adapter gets its adapted toxicity and its
thresholds, the other site the shared model's scores, and each decision names the adapter that scored it."""

from __future__ import annotations

import pytest

from moderation.models import Decision
from moderation.services import create_api_key, get_or_create_site
from moderation.services.adapters import activate_adapter, register_adapter
from moderation.services.registry import register_default_model
from tests.conftest import comment_payload, wait_for
from tests.e2e.test_pipeline import decided_states, http
from tests.moderation.services.test_adapters import ADVERTS, CIVIL, _labels
from training.adapter import save_adapter
from training.offline.adapt import fit_adapter
from training.runtime import default_model_path, load_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fruit_adapter(tmp_path_factory):
    model = load_model(default_model_path(), second_stage=False)
    texts, y = _labels(90, seed=1)
    path = tmp_path_factory.mktemp("e2e-adapter") / "fruit.joblib"
    save_adapter(fit_adapter(model, texts, y, review_budget=0.4), path, model, site="fruit")
    return path


def test_a_real_worker_scores_one_site_with_its_adapter_and_the_other_with_the_shared_model(
    live_server, start_worker, fruit_adapter
):
    register_default_model(default_model_path())
    fruit, plain = get_or_create_site("fruit", "Fruit Gazette"), get_or_create_site("plain", "Plain News")
    row = activate_adapter(fruit, register_adapter(fruit, fruit_adapter).version)
    keys = {site.slug: create_api_key(site)[1] for site in (fruit, plain)}
    start_worker()

    texts = ADVERTS + CIVIL
    ids: dict[str, list[int]] = {}
    for slug, key in keys.items():
        for n, text in enumerate(texts):
            status, body = http(
                "POST", f"{live_server.url}/api/v1/comments", key, comment_payload(f"{slug}-{n}", text=text)
            )
            assert status == 202, body
            ids.setdefault(slug, []).append(body["id"])
    states = {
        slug: wait_for(
            lambda slug=slug: decided_states(live_server, keys[slug], ids[slug]),
            timeout=90,
            interval=0.5,
            message=f"{slug}'s decisions through the status API",
        )
        for slug in keys
    }

    for ours, theirs in zip(states["fruit"], states["plain"], strict=True):
        assert ours["adapter_version"] == row.version and theirs["adapter_version"] is None
        assert ours["model_version"] == theirs["model_version"]
        # Only the adapted label differs: the other labels are the same model call's.
        assert {k: v for k, v in ours["scores"].items() if k != "toxicity"} == {
            k: v for k, v in theirs["scores"].items() if k != "toxicity"
        }
    adverts = slice(0, len(ADVERTS))
    assert [s["status"] for s in states["fruit"][adverts]] == ["needs_review"] * len(ADVERTS)
    assert [s["status"] for s in states["plain"][adverts]] == ["approved"] * len(ADVERTS)
    assert states["fruit"][-1]["status"] == states["plain"][-1]["status"] == "approved"
    assert set(
        Decision.objects.filter(comment_id__in=ids["fruit"], kind="auto").values_list(
            "adapter_version", flat=True
        )
    ) == {row.version}
