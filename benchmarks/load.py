"""Open-loop load for the latency benchmarks: requests leave on schedule whether or not earlier ones returned,
so a slow server shows up as latency instead of quietly lowering the offered rate (no coordinated
omission)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    offered_per_s: float = 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def open_loop(call: Callable[[], float], rate: float, seconds: float) -> LoadResult:
    """Run ``call`` (returns its own latency in ms) ``rate`` times a second for ``seconds``, each in its own
    thread; exceptions are counted as errors, not hidden."""
    result = LoadResult(requests=int(rate * seconds))
    lock = threading.Lock()

    def fire() -> None:
        try:
            ms = call()
            with lock:
                result.latencies_ms.append(ms)
        except Exception as exc:
            with lock:
                result.errors.append(repr(exc))

    threads = []
    start = time.monotonic()
    for i in range(result.requests):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=fire)
        thread.start()
        threads.append(thread)
    result.offered_per_s = result.requests / (time.monotonic() - start)
    for thread in threads:
        thread.join()
    return result
