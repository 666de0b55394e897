"""One frozen Settings object, read from NEWSDESK_* environment variables.

Every setting has a default that works on one machine (SQLite and files under ./var), an
environment variable, and a line of help; the README's settings table is checked against SETTINGS
by the tests, so a setting cannot go undocumented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from app.clock import Clock, fixed, parse_instant, system_clock
from app.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS: dict[str, Setting] = {
    "data_dir": Setting("NEWSDESK_DATA_DIR", "./var",
                        "folder for the SQLite database, cached images and key files"),
    "database_url": Setting("NEWSDESK_DATABASE_URL", "",
                            "SQLAlchemy URL of the database; empty means SQLite at "
                            "<data dir>/newsdesk.db"),
    "content_dir": Setting("NEWSDESK_CONTENT_DIR", "./content",
                           "folder of record files that `newsdesk run` imports at start"),
    "feeds": Setting("NEWSDESK_FEEDS", "./feeds",
                     "folder of feeds/*.yaml files (merged) or a single YAML file"),
    "host": Setting("NEWSDESK_HOST", "127.0.0.1", "address the site listens on"),
    "port": Setting("NEWSDESK_PORT", "8000", "port the site listens on"),
    "base_url": Setting("NEWSDESK_BASE_URL", "",
                        "public URL of the site for absolute links in feeds; empty means "
                        "taken from each request"),
    "secret_key": Setting("NEWSDESK_SECRET_KEY", "",
                          "secret for sessions and the `secured` field; empty means a key file "
                          "created under the data dir with mode 0600"),
    "allow_private_networks": Setting("NEWSDESK_ALLOW_PRIVATE_NETWORKS", "0",
                                      "1 lets fetches reach loopback and private addresses "
                                      "(tests only)"),
    "log_level": Setting("NEWSDESK_LOG_LEVEL", "INFO", "logging level"),
    "fetch_workers": Setting("NEWSDESK_FETCH_WORKERS", "8",
                             "sources fetched at the same time in a pass"),
    "user_agent": Setting("NEWSDESK_USER_AGENT",
                          "Newsdesk/0.1 (+https://github.com/newsdesk/newsdesk)",
                          "User-Agent header sent with every fetch"),
    # reader site (issue 6)
    "page_max_age": Setting("NEWSDESK_PAGE_MAX_AGE", "60",
                            "seconds browsers and proxies may reuse a page (Cache-Control)"),
    "feed_max_age": Setting("NEWSDESK_FEED_MAX_AGE", "900",
                            "seconds feed readers should wait before polling a feed again "
                            "(Cache-Control max-age and RSS ttl)"),
    "feed_entries": Setting("NEWSDESK_FEED_ENTRIES", "50", "entries in each feed"),
    "web_threads": Setting("NEWSDESK_WEB_THREADS", "8",
                           "request threads of `newsdesk serve` and `newsdesk run`"),
    # enrichment (issue 5)
    "enrich_timeout_ms": Setting("NEWSDESK_ENRICH_TIMEOUT_MS", "10000",
                                 "time limit of one article page, image or robots.txt fetch "
                                 "(milliseconds)"),
    "enrich_max_bytes": Setting("NEWSDESK_ENRICH_MAX_BYTES", "3000000",
                                "largest article page read (bytes); longer pages are refused"),
    "image_max_bytes": Setting("NEWSDESK_IMAGE_MAX_BYTES", "8000000",
                               "largest image downloaded (bytes)"),
    "image_max_pixels": Setting("NEWSDESK_IMAGE_MAX_PIXELS", "40000000",
                                "largest image decoded (width x height); bigger ones are "
                                "refused as decompression bombs"),
    "host_delay_ms": Setting("NEWSDESK_HOST_DELAY_MS", "1000",
                             "pause between two requests to the same host during enrichment "
                             "(milliseconds)"),
    "trusted_proxies": Setting("NEWSDESK_TRUSTED_PROXIES", "0",
                               "number of reverse proxies in front of the site whose "
                               "X-Forwarded-For/-Proto headers are believed (for the client "
                               "address of sign-in limits and for Secure cookies over HTTPS)"),
    # ingestion (feeds/ -> records)
    "fetch_timeout": Setting("NEWSDESK_FETCH_TIMEOUT", "10",
                             "seconds to wait for a connection or for the next bytes of a feed"),
    "fetch_deadline": Setting("NEWSDESK_FETCH_DEADLINE", "60",
                              "seconds one fetch of a feed may take in all, redirects included"),
    "fetch_max_bytes": Setting("NEWSDESK_FETCH_MAX_BYTES", "10485760",
                               "largest feed body accepted, counted after gzip decoding"),
    "fetch_max_entries": Setting("NEWSDESK_FETCH_MAX_ENTRIES", "500",
                                 "most entries taken from one feed document; of a longer "
                                 "feed the newest are kept (by date, else document order) "
                                 "and the pass says so"),
    "fetch_max_failures": Setting("NEWSDESK_FETCH_MAX_FAILURES", "10",
                                  "failures in a row after which a source is disabled"),
    "parse_processes": Setting("NEWSDESK_PARSE_PROCESSES", "0",
                               "processes that parse feeds during a pass and record files "
                               "during a large import, and that read and write records during "
                               "a large export; 0 means one per CPU, 1 does the work in the "
                               "main process"),
    "fetch_interval": Setting("NEWSDESK_FETCH_INTERVAL", "1800",
                              "seconds between fetches of a source that sets no interval"),
    # the worker's jobs besides ingestion
    "enrich_interval": Setting("NEWSDESK_ENRICH_INTERVAL", "60",
                               "seconds between enrichment passes of the worker (article pages "
                               "of new records, then related and heat); 0 turns them off"),
    "now": Setting("NEWSDESK_NOW", "",
                   "an ISO 8601 instant (2026-11-25T12:00:00Z) at which every command, job and "
                   "page takes \"now\" to stand still, for tests and replays; empty means the "
                   "wall clock"),
    "heat_interval": Setting("NEWSDESK_HEAT_INTERVAL", "900",
                             "seconds between recomputations of heat by the worker (heat "
                             "decays with time); 0 turns them off"),
    # WebSub (issue 20)
    "websub_hub": Setting("NEWSDESK_WEBSUB_HUB", "",
                          "URL of a WebSub hub that RSS and Atom feeds advertise (atom:link "
                          "rel=hub and the Link header); empty means none"),

    # several workers on one database (issue 16)
    "lease_timeout": Setting("NEWSDESK_LEASE_TIMEOUT", "90",
                             "seconds after a worker's last heartbeat before its leased sources "
                             "and pages go to another worker (the worker renews them every "
                             "third of this)"),
    "db_statement_timeout": Setting("NEWSDESK_DB_STATEMENT_TIMEOUT", "300",
                                    "seconds one PostgreSQL statement may run before the "
                                    "server cancels it (migrations excepted); 0 means no limit"),
    "log_format": Setting("NEWSDESK_LOG_FORMAT", "text",
                          "text, or json for one JSON object per log line (each names the "
                          "worker)"),
    "health_max_pass_age": Setting("NEWSDESK_HEALTH_MAX_PASS_AGE", "0",
                                   "seconds: /healthz answers 503 when no worker has finished "
                                   "a pass within this; 0 means /healthz ignores workers"),
}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    content_dir: Path
    feeds: Path
    host: str
    port: int
    base_url: str
    secret_key: str
    allow_private_networks: bool
    log_level: str
    fetch_workers: int
    user_agent: str
    page_max_age: int
    feed_max_age: int
    feed_entries: int
    web_threads: int
    enrich_timeout_ms: int
    enrich_max_bytes: int
    image_max_bytes: int
    image_max_pixels: int
    host_delay_ms: int
    trusted_proxies: int
    fetch_timeout: int
    fetch_deadline: int
    fetch_max_bytes: int
    fetch_max_entries: int
    fetch_max_failures: int
    fetch_interval: int
    parse_processes: int

    enrich_interval: int
    heat_interval: int
    # several workers on one database (issue 16)
    lease_timeout: int = 90
    db_statement_timeout: int = 300
    log_format: str = "text"
    health_max_pass_age: int = 0
    # "now" for every command, job and page (app/clock.py); not an environment variable itself,
    # but NEWSDESK_NOW freezes it
    clock: Clock = field(default=system_clock, compare=False, repr=False)
    websub_hub: str = ""                 # issue 20: the hub RSS and Atom feeds advertise

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        raw = {name: env.get(s.env, s.default) for name, s in SETTINGS.items()}
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            text = raw[f.name]
            try:
                if f.type in ("Path",):
                    values[f.name] = Path(text)
                elif f.type == "int":
                    values[f.name] = int(text)
                elif f.type == "bool":
                    values[f.name] = text.strip().lower() in ("1", "true", "yes", "on")
                else:
                    values[f.name] = text
            except ValueError:
                raise ConfigError(f"expected a whole number, got {text!r}",
                                  key=SETTINGS[f.name].env) from None
        frozen = raw.pop("now").strip()
        if frozen:
            try:
                values["clock"] = fixed(parse_instant(frozen))
            except ValueError as exc:
                raise ConfigError(f"expected an ISO 8601 instant: {exc}", key="NEWSDESK_NOW") \
                    from None
        values.update(overrides)
        hub = str(values.get("websub_hub") or "").strip()
        if hub and (not hub.lower().startswith(("http://", "https://"))
                    or any(c.isspace() or c in '<>"' for c in hub)):
            raise ConfigError(f"expected an http:// or https:// URL, got {hub[:100]!r}",
                              key="NEWSDESK_WEBSUB_HUB")
        if not values["database_url"]:
            values["database_url"] = default_database_url(Path(str(values["data_dir"])))
        return cls(**values)  # type: ignore[arg-type]


def default_database_url(data_dir: Path) -> str:
    """SQLite under the data dir: the one database whose folder is made on demand."""
    return f"sqlite:///{data_dir / 'newsdesk.db'}"
