"""A 20 s database outage under a `newsdesk worker` (issue 16 acceptance), through the loopback
proxy of tests/dbproxy.py, on a fresh PostgreSQL schema per run:

    NEWSDESK_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test_x \\
        python bench/db_outage.py [--seconds 20] [--repeat 1] [--modes reset silent silent-drop]

Prints, per run: seconds from the restore to the first pass that stored, outage lines logged,
tracebacks, entries served and stored, leases held once the worker is idle.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conftest import PG_URL, _pg_schema_url  # noqa: E402
from tests.test_db_outage import outage_scenario  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=["reset", "silent", "silent-drop"])
    args = parser.parse_args()
    if not PG_URL:
        sys.exit("set NEWSDESK_TEST_DATABASE_URL")
    for mode in args.modes:
        for _ in range(args.repeat):
            schemas = _pg_schema_url(PG_URL)
            url = next(schemas)
            try:
                f = outage_scenario(url, Path(tempfile.mkdtemp()), mode, args.seconds,
                                    bound=120)
            finally:
                schemas.close()
            print(f"{mode:12} outage {f.outage:.0f} s: resumed {f.resumed_after:.1f} s after "
                  f"restore; 'unreachable' lines {f.unreachable_lines}, 'reachable again' "
                  f"{f.reachable_lines}, tracebacks {f.tracebacks}; served {f.served}, stored "
                  f"{f.stored}; leases held when idle {f.orphan_leases}; exit {f.exit_code}")


if __name__ == "__main__":
    main()
