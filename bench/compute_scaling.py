"""How much compute would walrus-mini need to beat the baselines? A two-point power-law projection.

Each model's held-out VRMSE was measured at two training budgets (seconds of one core): the v2
recipe's walrus-mini at 2,400 and 6,000 steps, and each baseline at the two budgets it was given
(equal to the walrus runs'). Per system and metric, the two points fix err = a * seconds^-b for
each model; where walrus-mini's line falls below a baseline's, the budget at which the lines cross
is projected. Two points cannot show curvature or noise (one seed moves these numbers by up to 25%),
so the projection is an order of magnitude, not a forecast.

    python bench/compute_scaling.py \\
        --walrus bench/results/accuracy_v2recipe_long.json v2-recipe-2400 1232.6 \\
        --walrus bench/results/accuracy_v2recipe_long.json v2-recipe-6000 2740.6 \\
        --baselines bench/results/accuracy_v2.json --baselines bench/results/accuracy.json \\
        --out bench/results/compute_scaling.json --plot docs/compute_scaling.png
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import write_json  # noqa: E402

METRICS = ("one_step", "steps_1_10")
BASELINES = ("fno", "unet")
ISSUE_BUDGET = 7200.0  # seconds: the 2 hours of training the pretraining issue allows (drawn on the plot)


def power_law(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of err = a * seconds^-b through two (seconds, err) points."""
    (s1, e1), (s2, e2) = sorted(points)
    if s1 == s2:
        raise ValueError(f"two budgets are needed, got {s1} s twice")
    b = -math.log(e2 / e1) / math.log(s2 / s1)
    return e1 * s1 ** b, b


def crossover(walrus: tuple[float, float], baseline: tuple[float, float], at: float) -> dict:
    """Where walrus-mini's power law meets the baseline's: {"status": "ahead" (already better at `at`
    seconds), "never" (behind, and not gaining), or "projected"}, with the crossing in seconds."""
    (aw, bw), (ab, bb) = walrus, baseline
    ahead = aw * at ** -bw < ab * at ** -bb
    if ahead:
        return {"status": "ahead", "seconds": None}
    if bw <= bb:
        return {"status": "never", "seconds": None}
    return {"status": "projected", "seconds": math.exp((math.log(aw) - math.log(ab)) / (bw - bb))}


def budget_for(crossings: list[dict], fraction: float) -> float | None:
    """The least budget at which at least `fraction` of the systems are crossed (None: never)."""
    need = math.ceil(fraction * len(crossings) - 1e-9)
    seconds = sorted(0.0 if c["status"] == "ahead" else c["seconds"] if c["status"] == "projected" else math.inf
                     for c in crossings)
    value = seconds[need - 1]
    return None if math.isinf(value) else value


def describe(seconds: float | None, at: float) -> str:
    """A projected budget in words: beyond a million seconds the fit says only 'far out'."""
    if seconds is None:
        return "never (by these fits)"
    if seconds <= at:
        return f"already (at {at:,.0f} s)"
    if seconds > 1e6:
        return f"{seconds:.1e} s (beyond 10^6 s, 280 hours)"
    return f"{seconds:,.0f} s ({seconds / 3600:.1f} hours)"


def analyse(walrus_points: dict[str, list[tuple[float, dict]]], baseline_points: dict[str, list[tuple[float, dict]]],
            at: float, fraction: float = 0.8, budgets: tuple[float, ...] = ()) -> dict:
    """walrus_points / baseline_points: {system: [(seconds, {metric: err, ...}), ...]} for walrus and
    for each baseline kind as "kind/system" keys. `budgets`: where to count the systems walrus-mini
    would be ahead on, besides `at`."""
    out = {"systems": {}, "bar": {}}
    for system, points in walrus_points.items():
        row = {}
        for metric in METRICS:
            w = power_law([(s, m[metric]) for s, m in points])
            row[metric] = {"walrus": {"a": w[0], "b": w[1]}}
            for kind in BASELINES:
                b = power_law([(s, m[metric]) for s, m in baseline_points[f"{kind}/{system}"]])
                row[metric][kind] = {"a": b[0], "b": b[1], **crossover(w, b, at)}
        out["systems"][system] = row
    for kind in BASELINES:
        for metric in METRICS:
            crossings = [out["systems"][s][metric][kind] for s in out["systems"]]
            out["bar"][f"{kind}/{metric}"] = budget_for(crossings, fraction)
    bars = list(out["bar"].values())
    out["bar"]["all"] = None if any(v is None for v in bars) else max(bars)
    out["systems_ahead_at"] = {
        f"{budget:g}": {f"{kind}/{metric}": sum(1 for s in out["systems"] if ahead_at(out["systems"][s][metric][kind], budget))
                        for kind in BASELINES for metric in METRICS}
        for budget in (at, *budgets)}
    return out


def ahead_at(crossing: dict, seconds: float) -> bool:
    """Whether walrus-mini's line is below the baseline's at this budget."""
    return crossing["status"] == "ahead" or (crossing["status"] == "projected" and crossing["seconds"] <= seconds)


def load_points(walrus_args, baseline_files):
    walrus_points: dict[str, list] = {}
    for path, label, seconds in walrus_args:
        for system, r in json.loads(Path(path).read_text())["results"].items():
            walrus_points.setdefault(system, []).append((float(seconds), r["models"][label]))
    baseline_points: dict[str, list] = {}
    for path in baseline_files:
        for system, r in json.loads(Path(path).read_text())["results"].items():
            for kind in BASELINES:
                model = r["models"][kind]
                seconds = model["training"]["walrus_total_seconds"]   # the budget it was given, all systems
                baseline_points.setdefault(f"{kind}/{system}", []).append((seconds, model))
    return walrus_points, baseline_points


def plot(walrus_points, baseline_points, result, path: Path, metric: str = "one_step") -> None:
    """One panel per system: measured points and the fitted lines, log-log, out to the projection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(walrus_points)
    cols = 3
    fig, axes = plt.subplots(math.ceil(len(systems) / cols), cols, figsize=(12, 3.2 * math.ceil(len(systems) / cols)),
                             squeeze=False)
    for ax, system in zip(axes.flat, systems):
        row = result["systems"][system][metric]
        ends = [c["seconds"] for c in (row["fno"], row["unet"]) if c["status"] == "projected"]
        hi = max([3e4] + [min(s * 1.5, 1e7) for s in ends])
        grid = [1000 * (hi / 1000) ** (i / 49) for i in range(50)]
        for name, pts, fit, style in [("walrus-mini (v2 recipe)", walrus_points[system], row["walrus"], "C0"),
                                      ("FNO", baseline_points[f"fno/{system}"], row["fno"], "C1"),
                                      ("U-Net", baseline_points[f"unet/{system}"], row["unet"], "C2")]:
            ax.plot([s for s, _ in pts], [m[metric] for _, m in pts], "o", color=style, label=name)
            ax.plot(grid, [fit["a"] * g ** -fit["b"] for g in grid], "--", color=style, linewidth=1)
        ax.axvline(ISSUE_BUDGET, color="grey", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(system, fontsize=9)
        ax.set_xlabel("training seconds (one core)", fontsize=8)
        ax.set_ylabel(f"{metric.replace('_', ' ')} VRMSE", fontsize=8)
    for ax in axes.flat[len(systems):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Held-out VRMSE against training compute: measured (dots), two-point power law (dashed); "
                 "grey: 2 hours of one core", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--walrus", nargs=3, action="append", required=True, metavar=("RESULTS", "LABEL", "SECONDS"),
                   help="an accuracy.py results file, the walrus label in it and its training seconds (twice)")
    p.add_argument("--baselines", action="append", required=True, metavar="RESULTS",
                   help="an accuracy.py results file whose fno/unet were trained at one budget (twice)")
    p.add_argument("--at", type=float, default=None, help="the budget for 'ahead' (default: the larger walrus one)")
    p.add_argument("--budgets", type=float, nargs="*", default=[ISSUE_BUDGET, 2 * ISSUE_BUDGET],
                   help="budgets (seconds) at which to count the systems walrus-mini would be ahead on")
    p.add_argument("--out", default=None)
    p.add_argument("--plot", default=None)
    args = p.parse_args(argv)
    if len(args.walrus) != 2 or len(args.baselines) != 2:
        p.error("give exactly two --walrus and two --baselines: a power law through two budgets each")
    walrus_points, baseline_points = load_points(args.walrus, args.baselines)
    at = args.at or max(float(s) for _, _, s in args.walrus)
    result = analyse(walrus_points, baseline_points, at, budgets=tuple(args.budgets))
    record = dict(benchmark="compute_scaling",
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  command="python " + " ".join(["bench/compute_scaling.py", *(argv if argv is not None else sys.argv[1:])]),
                  method="per system and metric, err = a * seconds^-b through two held-out measurements per model; "
                         "crossing = where walrus-mini's line meets the baseline's; bar = least budget with >= 80% "
                         "of systems crossed, for each baseline and metric",
                  at_seconds=at, **result)
    for key, value in result["bar"].items():
        print(f"{key}: {describe(value, at)}")
    for budget, counts in result["systems_ahead_at"].items():
        print(f"ahead at {float(budget):,.0f} s: " + ", ".join(f"{k} {n}/{len(walrus_points)}" for k, n in counts.items()))
    if args.out:
        write_json(Path(args.out), record)
    if args.plot:
        plot(walrus_points, baseline_points, result, Path(args.plot))
    return record


if __name__ == "__main__":
    main()
