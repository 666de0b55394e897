"""Start-up benchmark (issue 19): how long the `newsdesk` command takes where the user waits.

Like hyperfine: each command runs N times, each time in a fresh process, and the wall time of
the whole process is taken; printed are the median, min, max and the spread (max - min).  The
runs of the contenders are interleaved (A B A B ...), so that a noisy neighbour slows both.

Contenders, in the same run:
  this tree     the code this script belongs to
  baseline      another revision (default `main`), checked out into a temporary git worktree
  references    `python -c pass` (the interpreter's floor) and `python -c 'import reader'`
                (lemon24/reader, when installed: `pip install -e '.[bench]'`)

Commands:
  --help        `newsdesk --help`
  fetch idle    `newsdesk fetch` on a database where no source is due (a farm of --sources
                feeds on loopback, fetched once beforehand by each contender's own code)

    .venv/bin/python bench/startup.py [--runs 15] [--baseline main] [--sources 600]

Targets (issue 19): fetch with nothing due <= 0.25 s, --help <= 0.15 s (median, on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# how a contender's command is started: its tree first on sys.path, as the console script does
LAUNCH = ("import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'newsdesk'; "
          "from app.cli import run; sys.exit(run())")
TARGETS = {"--help": 0.15, "fetch idle": 0.25}


def newsdesk(tree: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", LAUNCH, str(tree), *args]


def make_baseline(ref: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(where), ref],
                   check=True)
    return where


def drop_baseline(where: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)],
                   check=False)


def prepare(tree: Path, data: Path, sources_yaml: str) -> dict[str, str]:
    """A data dir and feeds/ for `tree`, fetched once (every source then waits its interval);
    returns the environment of its commands."""
    feeds = data / "feeds"
    feeds.mkdir(parents=True)
    for name in ("topics.yaml", "providers.yaml"):
        shutil.copy(ROOT / "feeds" / name, feeds / name)
    (feeds / "sources.yaml").write_text(sources_yaml, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.update(NEWSDESK_DATA_DIR=str(data), NEWSDESK_FEEDS=str(feeds),
               NEWSDESK_ALLOW_PRIVATE_NETWORKS="1", NEWSDESK_SECRET_KEY="bench-startup-key",
               NEWSDESK_LOG_LEVEL="WARNING")
    first = subprocess.run(newsdesk(tree, "fetch", "--all"), env=env, capture_output=True,
                           text=True, check=False, timeout=900)
    if first.returncode != 0:
        raise SystemExit(f"{tree}: the first fetch failed:\n{first.stderr[-2000:]}")
    idle = subprocess.run(newsdesk(tree, "fetch"), env=env, capture_output=True, text=True,
                          check=False, timeout=300)
    if idle.returncode != 0 or " 0 fetched" not in idle.stdout:
        raise SystemExit(f"{tree}: fetch with nothing due did something:\n"
                         f"{idle.stdout}{idle.stderr[-2000:]}")
    print(f"  {tree}: {idle.stdout.strip()}")
    return env


def timed(command: list[str], env: dict[str, str] | None) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{command}: exit {done.returncode}\n{done.stderr.decode()[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--sources", type=int, default=600)
    parser.add_argument("--entries", type=int, default=5)
    args = parser.parse_args()

    from tests.feedserver import FeedServer, farm_route

    with tempfile.TemporaryDirectory(prefix="newsdesk-startup-") as tmp, FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(args.entries)
        sources_yaml = "sources:\n" + "".join(
            f"  - {{name: farm-{i}, url: '{server.url(f'/farm/{i}.xml')}'}}\n"
            for i in range(args.sources))
        base = Path(tmp)
        contenders: dict[str, Path] = {"this tree": ROOT}
        if args.baseline:
            contenders[f"baseline {args.baseline}"] = make_baseline(args.baseline,
                                                                    base / "baseline")
        try:
            print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; "
                  f"{args.sources} sources; {args.runs} runs of each command")
            commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
                "python -c pass": ([sys.executable, "-c", "pass"], None)}
            try:
                import reader  # noqa: F401
                commands["python -c 'import reader'"] = (
                    [sys.executable, "-c", "import reader"], None)
            except ImportError:
                print("reader: not installed (pip install -e '.[bench]'); its reference skipped")
            for label, tree in contenders.items():
                env = prepare(tree, base / label.replace(" ", "-"), sources_yaml)
                commands[f"{label}: --help"] = (newsdesk(tree, "--help"), env)
                commands[f"{label}: fetch idle"] = (newsdesk(tree, "fetch"), env)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, (command, env) in commands.items():
                    times[name].append(timed(command, env))
        finally:
            if args.baseline:
                drop_baseline(base / "baseline")

    print(f"\n{'command':<40} {'median s':>9} {'min s':>7} {'max s':>7} {'spread':>7}")
    for name, walls in times.items():
        print(f"{name:<40} {statistics.median(walls):>9.3f} {min(walls):>7.3f} "
              f"{max(walls):>7.3f} {max(walls) - min(walls):>7.3f}")
    print()
    for command, target in TARGETS.items():
        ours = statistics.median(times[f"this tree: {command}"])
        line = f"{command}: {ours:.3f} s median (target <= {target} s: " \
               f"{'met' if ours <= target else 'NOT met'})"
        if args.baseline:
            theirs = statistics.median(times[f"baseline {args.baseline}: {command}"])
            line += f"; baseline {theirs:.3f} s, {theirs / ours:.1f}x faster"
        print(line)


if __name__ == "__main__":
    main()
