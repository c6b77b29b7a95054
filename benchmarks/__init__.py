"""Side-by-side measurements: ``python -m benchmarks {pipeline,model,dashboard,all} [--json]``."""
