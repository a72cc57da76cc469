"""PNG charts for RESULTS.md: slowdown per profiler and workload, accuracy per function.

matplotlib comes from the peers' venv (bench/.venv), so charts are drawn by a
child process running this file with the results JSON; the project's .venv
stays free of plotting packages. If matplotlib is missing the report says so.

    bench/.venv/bin/python bench/charts.py results.json OUT_DIR
"""
import json
import os
import sys


def _bars(ax, groups, series, values, errors=None, ylabel=""):
    import numpy as np
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    for i, name in enumerate(series):
        vals = values[i]
        err = None
        if errors:
            lo, hi = errors[i]
            err = [[max(0, v - l) for v, l in zip(vals, lo)], [max(0, h - v) for v, h in zip(vals, hi)]]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, label=name, yerr=err, capsize=2)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=15)
    ax.set_ylabel(ylabel)


def overhead_chart(block, labels, path, title):
    import matplotlib.pyplot as plt
    keys = [k for k in block["slowdown"] if k != "none"]
    workloads = block["workloads"]
    vals = [[(block["slowdown"][k][w] or {}).get("median", 0) for w in workloads] for k in keys]
    lo = [[(block["slowdown"][k][w] or {}).get("min", 0) for w in workloads] for k in keys]
    hi = [[(block["slowdown"][k][w] or {}).get("max", 0) for w in workloads] for k in keys]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    _bars(ax, workloads, [labels.get(k, k) for k in keys], vals, list(zip(lo, hi)),
          "wall time / unprofiled (median, min-max)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(1.005, color="green", linestyle="--", linewidth=0.8, label="target 1.005x")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_chart(acc, path):
    import matplotlib.pyplot as plt
    functions = acc["functions"]
    series, vals = ["truth (thread_time, unprofiled)"], [[100 * acc["truth"][f] for f in functions]]
    for key, entry in acc["profilers"].items():
        if entry.get("shares"):
            series.append(entry["label"])
            vals.append([100 * entry["shares"][f] for f in functions])
    fig, ax = plt.subplots(figsize=(10, 4.8))
    _bars(ax, functions, series, vals, ylabel="share of CPU (%)")
    ax.set_title("Accuracy: reported CPU share per function vs truth")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    with open(sys.argv[1]) as f:
        results = json.load(f)
    out = sys.argv[2]
    made = []
    py = results.get("python_overhead")
    if py:
        labels = {c["key"]: c["label"] for c in py["configs"]}
        overhead_chart(py, labels, os.path.join(out, "overhead_python.png"),
                       "Python: slowdown per profiler and workload")
        made.append("overhead_python.png")
    rb = results.get("ruby_overhead")
    if rb and "slowdown" in rb:
        labels = {c["key"]: c["label"] for c in rb["configs"]}
        overhead_chart(rb, labels, os.path.join(out, "overhead_ruby.png"), "Ruby: slowdown per profiler and workload")
        made.append("overhead_ruby.png")
    acc = results.get("accuracy")
    if acc and acc.get("truth"):
        accuracy_chart(acc, os.path.join(out, "accuracy_python.png"))
        made.append("accuracy_python.png")
    print(json.dumps(made))


if __name__ == "__main__":
    main()
