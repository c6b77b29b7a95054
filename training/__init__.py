"""Toxicity and spam models. The serving face is this package's top level: `training.runtime` (load_model,
which always verifies through `training.verify`, and score), `normalize`, `language`, and the classes pickled
models reference (`features`, `embedding`). The data scientists' side (datasets, training, evaluation,
reports, the `python -m training` CLI) is `training.offline`, which nothing here imports.

This package is the bottom layer of the project: it imports nothing from `moderation` or `worker`.
"""
