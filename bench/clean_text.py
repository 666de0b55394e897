"""Benchmark: clean_text (libxml2's HTML tokenizer) beside the regular expressions it replaced.

    .venv/bin/python bench/clean_text.py [--budget SECONDS] [--max-mb MB]

For each hostile shape (`<` repeated, `<a ` repeated, `<a title="` repeated, nested tags,
`<script>` repeated, unclosed comments) prints seconds per MB at growing sizes for
  - baseline: `regex_clean_text`, the function clean_text was until issue 13 (kept here
    verbatim), whose cost is quadratic in the number of `<`: sizes double until one run takes
    longer than --budget seconds;
  - newsdesk: `app.pipeline.normalize.clean_text`, up to --max-mb MB.
A linear function keeps its seconds per MB flat as the size grows. Last, the cost per value on
ordinary feed text (the titles, summaries and contents of tests/data/feeds), where both must
stay cheap.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.pipeline.normalize import clean_text  # noqa: E402

# ------------------------------------------------------------------ the baseline (before issue 13)
_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->",
                          re.IGNORECASE | re.DOTALL)
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h\d|/tr|p|li)\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def regex_clean_text(value: str) -> str:
    """clean_text as it was: tags stripped with regular expressions."""
    if not value:
        return ""
    text = value
    if "<" in text:
        text = _DROP_BLOCKS.sub(" ", text)
        text = _BREAKS.sub(" ", text)
        text = _TAGS.sub("", text)
    if "&" in text:
        text = html.unescape(text)
        if "<" in text and re.search(r"<[a-zA-Z/!]", text):   # entity-escaped markup
            text = _TAGS.sub("", _BREAKS.sub(" ", _DROP_BLOCKS.sub(" ", text)))
    return _SPACE.sub(" ", text.replace("\u00a0", " ")).strip()


# ------------------------------------------------------------------ measuring
SHAPES = {
    "'<' repeated": "<",
    "'<a ' repeated": "<a ",
    "'<a title=\"' repeated": '<a title="',
    "nested '<b><i><span>'": "<b><i><span>",
    "'<script>' repeated": "<script>",
    "'<!--' repeated": "<!--",
}
MB = 1024 * 1024


def seconds(function: Callable[[str], str], text: str) -> float:
    start = time.perf_counter()
    function(text)
    return time.perf_counter() - start


def sizes_kb(start: int, stop: int) -> list[int]:
    out = [start]
    while out[-1] * 2 <= stop:
        out.append(out[-1] * 2)
    return out


def run_shape(name: str, unit: str, budget: float, max_mb: float) -> None:
    print(f"\n{name}")
    print(f"  {'function':<18} {'size':>9} {'seconds':>9} {'s per MB':>10}")
    for label, function, sizes in (
            ("regex (baseline)", regex_clean_text, sizes_kb(16, int(max_mb * 1024))),
            ("clean_text", clean_text, sizes_kb(256, int(max_mb * 1024)))):
        for kb in sizes:
            text = unit * (kb * 1024 // len(unit))
            took = seconds(function, text)
            print(f"  {label:<18} {kb:>6} KB {took:>9.3f} {took / (len(text) / MB):>10.3f}")
            if took > budget:
                print(f"  {label:<18} stopped: one run took more than {budget:g} s")
                break


def ordinary_values() -> list[str]:
    import feedparser

    values = []
    for path in sorted((ROOT / "tests" / "data" / "feeds").iterdir()):
        if path.suffix not in (".xml", ".rdf", ".atom"):
            continue
        for entry in feedparser.parse(path.read_bytes()).entries:
            values += [entry.get("title") or "", entry.get("summary") or ""]
            values += [c.get("value") or "" for c in entry.get("content", [])]
    return [v for v in values if v]


def run_ordinary(rounds: int = 50) -> None:
    values = ordinary_values()
    size = sum(map(len, values)) / len(values)
    print(f"\nordinary feed text: {len(values)} values of {size:.0f} characters on average")
    for label, function in (("regex (baseline)", regex_clean_text), ("clean_text", clean_text)):
        start = time.perf_counter()
        for _ in range(rounds):
            for value in values:
                function(value)
        took = (time.perf_counter() - start) / (rounds * len(values))
        print(f"  {label:<18} {took * 1e6:8.1f} µs per value")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=5.0,
                        help="stop growing a function's input after a run this long (s)")
    parser.add_argument("--max-mb", type=float, default=8.0, help="largest input (MB)")
    args = parser.parse_args()
    for name, unit in SHAPES.items():
        run_shape(name, unit, args.budget, args.max_mb)
    run_ordinary()


if __name__ == "__main__":
    main()
