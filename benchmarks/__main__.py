"""``python -m benchmarks NAME [args]`` runs one benchmark; ``all`` runs every one with its defaults (what
``make bench`` does) and prints each one's JSON."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

BENCHMARKS = {
    "pipeline": ("benchmarks.pipeline", ["--json"]),
    # the same without the context lookups (issue 21: what they cost, side by side with the run above)
    "pipeline-lookups-off": ("benchmarks.pipeline", ["--json", "--context-lookups", "off"]),
    # --quality: the targets are quality figures too (AUC per set, paired against the peer)
    "model": ("benchmarks.model", ["--json", "--quality"]),
    "dashboard": ("benchmarks.dashboard", ["--json"]),
    "robustness": ("benchmarks.robustness", ["--json"]),
    "perspective": ("benchmarks.perspective", ["--json"]),
    "spam-transfer": ("benchmarks.spam_transfer", ["--json"]),
    "workload": ("benchmarks.workload", ["--json", "--sweep"]),
    # identity_attack, threat and spam as signals of their own (issue 22 part 3)
    "signals": ("benchmarks.signals", ["--json"]),
    # a site's own labels through a site adapter: hold-out AUC and workload after 0/250/1,000/all (issue 20)
    "adaptation": ("benchmarks.adaptation", ["--json"]),
}


def available() -> list[str]:
    names = []
    for name, (module, _) in BENCHMARKS.items():
        try:
            importlib.util.find_spec(module) and names.append(name)
        except ModuleNotFoundError:
            pass
    return names


def default_args(name: str) -> list[str]:
    """What `all` passes: the model benchmark also measures the optional second stage where its extra is
    installed (the issue asks for the default with and without it)."""
    from training import embedding

    args = list(BENCHMARKS[name][1])
    if name == "model" and embedding.available():
        args.append("--second-stage")
    return args


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] in {"-h", "--help"}:
        print(f"usage: python -m benchmarks {{{','.join(names + ['all'])}}} [options]")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        failed = 0
        for each in names:
            print(f"== {each}", flush=True)
            command = [sys.executable, "-m", BENCHMARKS[each][0], *default_args(each), *rest]
            failed |= subprocess.call(command) != 0
        return int(failed)
    if name not in names:
        print(f"unknown benchmark {name!r}; choose one of {', '.join(names + ['all'])}", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", BENCHMARKS[name][0], *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
