"""Benchmark: import and export of records on SQLite, beside bare PyYAML on the same files.

    .venv/bin/python bench/import_export.py [--records 10000] [--keep DIR]

Generates N varied records (related entries, images, logos, unknown keys, bodies, unicode),
writes them as files, then measures in separate processes (so each peak memory is its own):
  - baseline: bare `yaml.safe_load` of every file's front matter and `yaml.safe_dump` back
    (PyYAML's defaults, as a user would call them), and the same with the C loader/dumper;
  - newsdesk import: `import_paths` into a new SQLite database;
  - newsdesk export: `export_dir` into an empty folder, then again (incremental: 0 written),
    in 1 process and in one process per CPU (the figure held to the target).
Prints records/s and peak RSS for each, the targets (import >= 2,000/s, export >= 5,000/s) and
our cost as a ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.record import Image, Provider, Record, Related, dump_record  # noqa: E402

WORDS = ["AI", "model", "clinical", "imaging", "radiology", "patients", "hospital", "drug",
         "discovery", "trial", "mental", "health", "chatbot", "FDA", "regulation",
         "documentation", "scribe", "sepsis", "cancer", "detection", "diagnosis", "equity",
         "bias", "privacy", "genomics", "cardiology", "nurses", "workflow", "startup", "funding",
         "study", "finds", "accuracy", "déjà-vu", "naïve", "café", "£", "·", "“quoted”",
         "‘single’", "🙂"]
PROVIDERS = [(f"Provider {i}", f"provider{i}.example.org") for i in range(300)]
TOPICS = ["AI", "AI in Healthcare", "AI Ethics", "Medical Imaging", "Drug Discovery",
          "Mental Health", "Clinical Documentation", "Regulation"]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def make_record(rng: random.Random, i: int) -> Record:
    name, domain = rng.choice(PROVIDERS)
    when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(3_000_000))
    url = f"https://{domain}/news/{when:%Y/%m}/{i}-{sentence(rng, 3).lower().replace(' ', '-')}"
    images = tuple(Image(url=f"https://cdn.{domain}/img/{i}-{k}.jpg",
                         width=rng.randrange(200, 2000), height=rng.randrange(200, 2000),
                         is_cached=rng.random() < 0.5,
                         title=sentence(rng, 5) if rng.random() < 0.2 else None)
                   for k in range(rng.choice((0, 1, 1, 2))))
    related = tuple(Related(
        title=sentence(rng, 9), excerpt=sentence(rng, 25),
        published_at=when - timedelta(hours=rng.randrange(48)),
        web_url=f"https://{PROVIDERS[k][1]}/story/{i}-{k}", type="article",
        provider=Provider(name=PROVIDERS[k][0], domain=PROVIDERS[k][1]),
        quality=rng.randrange(150),
        images=(Image(url=f"https://cdn.example.org/r/{i}-{k}.png", width=600, height=400,
                      is_cached=True),) if rng.random() < 0.5 else ())
        for k in rng.sample(range(300), rng.choice((0, 0, 1, 2, 3))))
    logo = (Image(url=f"/assets/images/organizations/{domain}-50x50.jpg", width=50, height=50),)
    extra = {"sourceFeed": f"https://{domain}/feed.xml"} if rng.random() < 0.2 else {}
    return Record(
        title=sentence(rng, rng.randrange(6, 14)), web_url=url, published_at=when,
        provider=Provider(name=name, domain=domain, images=logo if rng.random() < 0.3 else ()),
        excerpt=sentence(rng, rng.randrange(10, 60)) + ("\nSecond line." if i % 7 == 0 else ""),
        original_url=url + "?utm_source=rss" if rng.random() < 0.5 else None,
        amp_web_url=url + "/amp" if rng.random() < 0.5 else None, type="article",
        quality=rng.randrange(150), heat=rng.choice((-1, rng.randrange(200))),
        published=rng.random() < 0.6, topics=tuple(rng.sample(TOPICS, rng.randrange(1, 4))),
        images=images, related=related,
        secured=f"{rng.randbytes(120).hex()};{rng.randbytes(12).hex()}",
        body=f"## {sentence(rng, 4)}\n\n{sentence(rng, 80)}\n" if rng.random() < 0.3 else "",
        extra=extra)


def generate(folder: Path, count: int) -> None:
    rng = random.Random(20261125)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:06d}.md").write_text(dump_record(make_record(rng, i)), encoding="utf-8")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- phases (run in child processes)

def phase_baseline(files: Path, c_lib: bool) -> dict[str, float]:
    import yaml

    load = (lambda t: yaml.load(t, Loader=yaml.CSafeLoader)) if c_lib else yaml.safe_load
    dump = ((lambda d: yaml.dump(d, Dumper=yaml.CSafeDumper, allow_unicode=True))
            if c_lib else (lambda d: yaml.safe_dump(d, allow_unicode=True)))
    paths = sorted(files.glob("*.md"))
    started = time.perf_counter()
    loaded = [load(p.read_text(encoding="utf-8").split("\n---\n", 1)[0][4:]) for p in paths]
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    for data in loaded:
        dump(data)
    dump_s = time.perf_counter() - started
    return {"load_s": load_s, "dump_s": dump_s, "n": len(paths), "peak_mb": peak_mb()}


def phase_import(files: Path, db_path: Path, processes: int) -> dict[str, float]:
    from app.store.content import import_paths
    from app.store.db import Database

    db = Database(f"sqlite:///{db_path}")
    started = time.perf_counter()
    report = import_paths(db, [files], now=datetime.now(UTC), processes=processes)
    elapsed = time.perf_counter() - started
    assert report.failed == 0, report.errors[:3]
    return {"s": elapsed, "n": report.new, "peak_mb": peak_mb()}


def phase_export(db_path: Path, out: Path, processes: int) -> dict[str, float]:
    from app.store.content import export_dir
    from app.store.db import Database

    db = Database(f"sqlite:///{db_path}")
    started = time.perf_counter()
    first = export_dir(db, out, processes=processes)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = export_dir(db, out, processes=processes)
    second_s = time.perf_counter() - started
    assert second.written == 0
    return {"s": first_s, "n": first.written, "again_s": second_s,
            "again_written": second.written, "peak_mb": peak_mb()}


def child(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--phase", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="keep the generated files here")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, *rest = args.phase
        if name == "baseline":
            result = phase_baseline(Path(rest[0]), rest[1] == "c")
        elif name == "import":
            result = phase_import(Path(rest[0]), Path(rest[1]), int(rest[2]))
        else:
            result = phase_export(Path(rest[0]), Path(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        files, db_path, out = work / "records", work / "bench.db", work / "export"
        started = time.perf_counter()
        generate(files, args.records)
        print(f"generated {args.records} records in {time.perf_counter() - started:.1f} s "
              f"({sum(p.stat().st_size for p in files.glob('*.md')) / 1e6:.1f} MB)")
        base = child(["baseline", str(files), "py"])
        base_c = child(["baseline", str(files), "c"])
        imp1 = child(["import", str(files), str(work / "serial.db"), "1"])
        imp = child(["import", str(files), str(db_path), str(os.cpu_count() or 1)])
        # each export starts with the files written before it on disk, not in writeback
        os.sync()
        exp1 = child(["export", str(db_path), str(work / "export-serial"), "1"])
        os.sync()
        exp = child(["export", str(db_path), str(out), str(os.cpu_count() or 1)])

    n = args.records
    rows = [
        ("baseline yaml.safe_load (PyYAML defaults)", n / base["load_s"], base["peak_mb"], ""),
        ("baseline yaml.safe_dump (PyYAML defaults)", n / base["dump_s"], base["peak_mb"], ""),
        ("baseline CSafeLoader load", n / base_c["load_s"], base_c["peak_mb"], ""),
        ("baseline CSafeDumper dump", n / base_c["dump_s"], base_c["peak_mb"], ""),
        ("newsdesk import, parsing in 1 process", imp1["n"] / imp1["s"], imp1["peak_mb"], ""),
        (f"newsdesk import, parsing in {os.cpu_count()} processes", imp["n"] / imp["s"],
         imp["peak_mb"], "target >= 2,000/s (parent's peak)"),
        ("newsdesk export, 1 process", exp1["n"] / exp1["s"], exp1["peak_mb"], ""),
        ("newsdesk export again, 1 process, 0 written", n / exp1["again_s"], exp1["peak_mb"],
         ""),
        (f"newsdesk export, {os.cpu_count()} processes", exp["n"] / exp["s"], exp["peak_mb"],
         "target >= 5,000/s (parent's peak)"),
        (f"newsdesk export again, {os.cpu_count()} processes, 0 written", n / exp["again_s"],
         exp["peak_mb"], ""),
    ]
    print(f"\n{'phase':45} {'records/s':>10} {'peak MB':>9}  note")
    for name, rate, mb, note in rows:
        print(f"{name:45} {rate:10,.0f} {mb:9.0f}  {note}")
    imp_rate, exp_rate = imp["n"] / imp["s"], exp["n"] / exp["s"]
    print(f"\nimport: {imp_rate:,.0f} records/s "
          f"({'meets' if imp_rate >= 2000 else 'MISSES'} the 2,000/s target); "
          f"time per record is {base['load_s'] / n * 1e3:.2f} ms for bare safe_load vs "
          f"{imp['s'] / n * 1e3:.2f} ms for our import: ratio "
          f"{imp['s'] / base['load_s']:.2f}x safe_load, {imp['s'] / base_c['load_s']:.2f}x "
          f"CSafeLoader")
    print(f"export: {exp_rate:,.0f} records/s "
          f"({'meets' if exp_rate >= 5000 else 'MISSES'} the 5,000/s target); ratio "
          f"{exp['s'] / base['dump_s']:.2f}x safe_dump, {exp['s'] / base_c['dump_s']:.2f}x "
          f"CSafeDumper")


if __name__ == "__main__":
    main()
