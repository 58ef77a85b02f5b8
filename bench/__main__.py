"""``python -m bench``: run the scenarios, print the table, write RESULTS.md and results.png.

    python -m bench                 every scenario, default durations (about 4 minutes)
    python -m bench --only latency  one scenario (repeatable)
    python -m bench --quick         short durations: a smoke test (writes to a temp dir)
    python -m bench --isolate       at nice -10, so other work on the machine steals less CPU
    python -m bench --soak          longer runs: 1,000 streams for 10 minutes
                                    (writes RESULTS-soak.md and results-soak.png)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from . import processes, report
from .scenario import Mode, Settings, load_scenarios

BENCH_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str], names: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=names, metavar="NAME",
                        help=f"run only this scenario (repeatable): {', '.join(names)}")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="short durations (smoke test)")
    speed.add_argument("--soak", action="store_true", help="long durations (make soak)")
    parser.add_argument("--isolate", action="store_true",
                        help="run the bench and its servers at nice -10 (needs root): on a "
                             "shared machine, other work then steals less of their CPU; "
                             "recorded in RESULTS.md")
    parser.add_argument("--out", type=Path, default=None,
                        help="where RESULTS.md and results.png go (default: bench/, or a "
                             "temp dir with --quick)")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Raised wherever the loop is, it ends asyncio.run at once (asyncio's own SIGINT
    # handling only cancels the main task, which a scenario could outlive); the
    # finally below then stops every server.
    raise KeyboardInterrupt


def _quiet_about_cancelled(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """After Ctrl-C, cancelled gathers are expected; anything else is still reported."""
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


async def run_all(run: report.Run, settings: Settings, names: list[str] | None,
                  console: Console) -> None:
    asyncio.get_running_loop().set_exception_handler(_quiet_about_cancelled)
    for scenario in load_scenarios():
        if names and scenario.name not in names:
            continue
        console.print(f"[bold]▶ {scenario.name}[/]: {scenario.title} …")
        began = time.monotonic()
        try:
            result = await scenario.run(settings)
        except Exception as exc:  # one broken scenario must not hide the others' figures
            console.print(traceback.format_exc(), style="red", markup=False)
            run.failures.append((scenario, f"{type(exc).__name__}: {exc}"))
            continue
        finally:
            processes.stop_all()
        run.results.append((scenario, result))
        console.print(f"  done in {time.monotonic() - began:.0f} s")


def main(argv: list[str] | None = None) -> int:
    scenarios = load_scenarios()
    args = parse_args(sys.argv[1:] if argv is None else argv, [s.name for s in scenarios])
    mode: Mode = "quick" if args.quick else "soak" if args.soak else "default"
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="igbridge-bench-out-")) if args.quick
                           else BENCH_DIR)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a log file: keep each figure on one line
    processes.raise_fd_limit()
    if args.isolate:
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # the servers inherit it
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    command = "python -m bench" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None
                                                             else argv))
    run = report.Run(command=command, started=report.now(), machine=report.machine(),
                     load_before=os.getloadavg())
    began = time.monotonic()
    try:
        asyncio.run(run_all(run, Settings(mode), args.only, console))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers stopped, nothing written[/]")
        return 130
    finally:
        processes.stop_all()
    run.seconds = time.monotonic() - began
    run.load_after = os.getloadavg()
    report.print_table(run, console)
    results, chart = report.write_outputs(run, out_dir, "-soak" if args.soak else "")
    console.print(f"wrote {results}" + (f" and {chart}" if chart else ""))
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
