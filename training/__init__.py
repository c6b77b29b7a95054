"""Toxicity and spam models: offline training/evaluation and the runtime scoring engine (`training.runtime`).

This package is the bottom layer of the project: it imports nothing from `moderation` or `worker`.
"""
