"""Small statistics helpers: percentiles and per-second series, no NumPy needed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return float(sorted_values[index])


def summary_ms(latencies_ns: Iterable[int]) -> dict[str, float]:
    values = sorted(v / 1e6 for v in latencies_ns)
    return {
        "count": len(values),
        "p50_ms": percentile(values, 0.50),
        "p90_ms": percentile(values, 0.90),
        "p99_ms": percentile(values, 0.99),
        "p999_ms": percentile(values, 0.999),
        "max_ms": values[-1] if values else float("nan"),
    }


def per_second(timestamps_ns: Iterable[int], origin_ns: int) -> list[int]:
    """How many events fell in each whole second after ``origin_ns``."""
    buckets = Counter(max(0, (t - origin_ns) // 1_000_000_000) for t in timestamps_ns)
    if not buckets:
        return []
    return [buckets.get(second, 0) for second in range(max(buckets) + 1)]
