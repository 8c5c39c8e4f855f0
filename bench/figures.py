"""What every benchmark prints: a measured figure beside its baseline, and their ratio."""

from __future__ import annotations

import json


def figure(name: str, value: float, unit: str, baseline: float, baseline_name: str,
           higher_is_better: bool = True) -> dict[str, object]:
    """One figure; the ratio is > 1 when the measurement beats its baseline."""
    ratio = value / baseline if higher_is_better else baseline / value
    return {"figure": name, "value": round(value, 3), "unit": unit,
            "baseline": round(baseline, 3), "baseline_name": baseline_name,
            "ratio": round(ratio, 3)}


def report(benchmark: str, title: str, results: list[dict[str, object]], *, as_json: bool,
           **context: object) -> None:
    """Print the figures as a table, or as one JSON object with `--json`."""
    if as_json:
        print(json.dumps({"benchmark": benchmark, **context, "figures": results}))
        return
    print(title)
    for r in results:
        print(f"  {r['figure']:<28} {r['value']!s:>12} {r['unit']:<11} baseline "
              f"{r['baseline']!s:>12} ({r['baseline_name']})  ratio {r['ratio']}")
