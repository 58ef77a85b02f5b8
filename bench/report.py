"""The outputs of a run: the terminal table, bench/RESULTS.md and bench/results.png."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.ticker import FuncFormatter
from rich.console import Console
from rich.table import Table

from .scenario import Scenario, ScenarioResult


@dataclass
class Run:
    command: str
    started: datetime
    machine: dict[str, str]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    results: list[tuple[Scenario, ScenarioResult]] = field(default_factory=list)
    failures: list[tuple[Scenario, str]] = field(default_factory=list)
    seconds: float = 0.0


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            ram_kb = int(line.split()[1])
    os_name = platform.platform()
    with_release = Path("/etc/os-release")
    if with_release.exists():
        for line in with_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "niceness of the bench and its servers": str(os.getpriority(os.PRIO_PROCESS, 0)),
        "RAM": f"{ram_kb / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "OS": os_name,
    }


def print_table(run: Run, console: Console) -> None:
    table = Table(title="igbridge benchmarks", show_lines=False)
    for column in ("scenario", "figure", "value", "target", "result", "note"):
        table.add_column(column, overflow="fold")
    for scenario, result in run.results:
        for index, figure in enumerate(result.figures):
            verdict = {"PASS": "[green]PASS[/]", "MISS": "[bold red]MISS[/]"}.get(
                figure.verdict, "")
            table.add_row(scenario.name if index == 0 else "", figure.name, figure.shown,
                          figure.target, verdict, figure.note)
        table.add_section()
    console.print(table)
    for scenario, error in run.failures:
        console.print(f"[bold red]{scenario.name} failed:[/] {error}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(run: Run, chart_name: str | None) -> str:
    lines = [
        "# igbridge benchmark results",
        "",
        "Written by `python -m bench` (see `bench/`); rerun it to check these figures.",
        "",
        f"- Command: `{run.command}`",
        f"- Date: {run.started.strftime('%Y-%m-%d %H:%M UTC')} (took {run.seconds:.0f} s)",
    ]
    lines += [f"- {key}: {value}" for key, value in run.machine.items()]
    lines.append(
        "- Load average (1/5/15 min) before: "
        + " / ".join(f"{v:.2f}" for v in run.load_before)
        + ", after: " + " / ".join(f"{v:.2f}" for v in run.load_after)
        + " (clients and servers share these cores; other work on the machine shows here)")
    lines += ["", "| scenario | figure | value | target | result | note |",
              "|---|---|---|---|---|---|"]
    for scenario, result in run.results:
        for figure in result.figures:
            lines.append("| " + " | ".join(_cell(c) for c in (
                scenario.name, figure.name, figure.shown, figure.target,
                f"**{figure.verdict}**" if figure.verdict == "MISS" else figure.verdict,
                figure.note)) + " |")
    for scenario, error in run.failures:
        lines.append(f"| {scenario.name} | did not finish | | | **MISS** | {_cell(error)} |")
    lines += ["", "## How each scenario measures", ""]
    for scenario, result in run.results:
        lines.append(f"- **{scenario.name}** ({scenario.title}): " + " ".join(result.notes))
    if chart_name:
        lines += ["", f"![latency and memory]({chart_name})", ""]
    return "\n".join(lines) + "\n"


def draw_chart(run: Run, path: Path) -> bool:
    """Latency percentiles of igbridge vs the baseline, and RSS in the streams run."""
    series: dict[str, Any] = {}
    for _, result in run.results:
        series.update(result.series)
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[str] = [key for key in ("latency_percentiles", "rss") if key in series]
    if "soak" in series:
        panels += ["soak_latency", "soak_rss"]
    columns = min(2, len(panels))
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.5 * rows),
                                squeeze=False)
    flat = [axis for row in axes for axis in row]
    for axis in flat[len(panels):]:
        axis.set_visible(False)
    for axis, key in zip(flat, panels, strict=False):
        if key == "latency_percentiles":
            _draw_latency(axis, series[key])
        elif key == "rss":
            _draw_rss(axis, series[key])
        elif key == "soak_latency":
            _draw_soak_latency(axis, series["soak"])
        else:
            _draw_soak_rss(axis, series["soak"])
    figure.suptitle(f"igbridge benchmarks, {run.started.strftime('%Y-%m-%d')}, "
                    f"{run.machine['cores']} cores")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _draw_latency(axis: Any, percentiles: dict[str, dict[str, float]]) -> None:
    keys = ["p50", "p90", "p99", "max"]
    width = 0.8 / max(1, len(percentiles))
    for index, (name, values) in enumerate(percentiles.items()):
        positions = [k + index * width for k in range(len(keys))]
        bars = axis.bar(positions, [values[k] for k in keys], width, label=name)
        axis.bar_label(bars, fmt="%.0f", fontsize=8)
    axis.set_xticks([k + width * (len(percentiles) - 1) / 2 for k in range(len(keys))], keys)
    axis.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axis.yaxis.set_major_formatter(plain)
    axis.yaxis.set_minor_formatter(plain)
    axis.tick_params(axis="y", which="minor", labelsize=7)
    axis.set_ylabel("update → frame latency (ms, log)")
    axis.set_title("100 sessions × 2 updates/s")
    axis.legend()


def _draw_rss(axis: Any, rss: dict[str, Any]) -> None:
    axis.plot(rss["times"], [kb / 1024 for kb in rss["rss_kb"]], color="tab:purple")
    for index, (label, at) in enumerate(rss["marks"].items()):
        axis.axvline(at, color="grey", linestyle=":", linewidth=1)
        # Staggered heights: the marks can be seconds apart on a ten-minute axis.
        axis.annotate(label, (at, 0.03 + 0.3 * index), xycoords=("data", "axes fraction"),
                      rotation=90, fontsize=8, color="grey", ha="right")
    axis.set_xlabel("seconds")
    axis.set_ylabel("server RSS (MB)")
    axis.set_ylim(bottom=0)
    axis.set_title(f"{rss['streams']:,} streams × 1 event/s: server memory")


def _mark_imports(axis: Any, soak: dict[str, Any]) -> None:
    began, ended = soak["imports"]
    if ended > began:
        axis.axvspan(began, ended, color="tab:orange", alpha=0.12, label="imports running")


def _draw_soak_latency(axis: Any, soak: dict[str, Any]) -> None:
    """Latency p50/p99 of each 10 s window, the import period shaded."""
    windows = soak["windows"]
    middles = [(start + end) / 2 for start, end, *_ in windows]
    axis.plot(middles, [w[2] for w in windows], marker=".", label="p50")
    axis.plot(middles, [w[3] for w in windows], marker=".", label="p99")
    axis.axhline(soak["target_p99"], color="tab:red", linestyle="--", linewidth=1,
                 label=f"p99 target {soak['target_p99']:g} ms")
    _mark_imports(axis, soak)
    axis.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axis.yaxis.set_major_formatter(plain)
    axis.set_xlabel("seconds since the updates started")
    axis.set_ylabel("update → frame latency (ms, log)")
    axis.set_title(f"soak: {soak['streams']:,} streams × 1 event/s, per 10 s window")
    axis.legend(fontsize=8)


def _draw_soak_rss(axis: Any, soak: dict[str, Any]) -> None:
    """Server RSS every second; frames/s per window on the right-hand axis."""
    axis.plot(soak["times"], [kb / 1024 for kb in soak["rss_kb"]], color="tab:purple",
              label="server RSS")
    _mark_imports(axis, soak)
    if "updates end" in soak["marks"]:
        axis.axvline(soak["marks"]["updates end"], color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("seconds since the updates started")
    axis.set_ylabel("server RSS (MB)")
    axis.set_ylim(bottom=0)
    axis.legend(loc="lower left", fontsize=8)
    frames = axis.twinx()
    windows = soak["windows"]
    if windows:  # a step per window, held to the end of the last one
        frames.step([w[0] for w in windows] + [windows[-1][1]],
                    [w[4] for w in windows] + [windows[-1][4]], where="post",
                    color="tab:green", alpha=0.6, linewidth=1)
    frames.set_ylabel("frames/s (green)")
    frames.set_ylim(0, 1.25 * max([w[4] for w in windows], default=1.0))
    axis.set_title("soak: server memory and frames delivered")


def write_outputs(run: Run, out_dir: Path, suffix: str = "") -> tuple[Path, Path | None]:
    """RESULTS{suffix}.md and results{suffix}.png (the soak keeps its own pair)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = out_dir / f"results{suffix}.png"
    drawn = draw_chart(run, chart)
    results = out_dir / f"RESULTS{suffix}.md"
    results.write_text(markdown(run, chart.name if drawn else None))
    return results, chart if drawn else None


def now() -> datetime:
    return datetime.now(UTC)
