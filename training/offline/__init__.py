"""The offline side of `training`: datasets, training, evaluation, reports and the `python -m training` CLI.

Run by data scientists, never at serving time: nothing in `training` outside this package, and nothing in
`moderation` or `worker`, imports it. Its modules are imported by name (`training.offline.pipeline`, ...);
this package re-exports nothing, so importing the CLI stays cheap.
"""
