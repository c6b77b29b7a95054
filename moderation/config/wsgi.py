import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.config.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    """Load the model and the language detector at start, not in the first request that needs them (that
    request took ~2 s in the Perspective benchmark). Under gunicorn --preload this runs once in the master and
    the workers share the memory. A model that cannot load is logged; requests then answer 503 as before."""
    from django.db import connections

    from moderation.scoring import ModelUnavailable, current_model
    from training.language import preload

    preload()
    try:
        current_model()
    except ModelUnavailable:
        pass
    finally:
        connections.close_all()  # the registry read opened one; a forked worker must not share it


if os.environ.get("MODERATION_WARM_UP", "1") != "0":
    _warm_up()
