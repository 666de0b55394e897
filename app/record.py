"""The Record type (every field of the record format) and its front-matter reader and writer.

The format is described in docs/RECORD.md: YAML front matter between two
``---`` lines, then an optional Markdown body.  The reader is tolerant (unquoted URLs, keys in any
order, unknown keys kept); the writer writes one canonical layout, so that a file already in that
layout reads and writes back byte for byte.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

import yaml

from app.errors import RecordError

__all__ = [
    "Image",
    "Provider",
    "Record",
    "Related",
    "dump_record",
    "format_datetime",
    "parse_datetime",
    "parse_record",
    "record_from_mapping",
    "record_id",
    "slugify",
]

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _RecordLoader(_Loader):
    """Safe loader that leaves timestamps as strings: we parse dates ourselves so that an
    impossible date is reported against its field rather than as a YAML crash."""


_RecordLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _NULL, _MAP, _SEQ = (_TAG + t for t in ("str", "int", "null", "map", "seq"))


class _Unusual(Exception):
    """The document uses something the fast builder leaves to PyYAML (merge keys, odd tags)."""


def _build(loader: Any, node: yaml.Node, seen: set[int]) -> Any:
    """Python data from a composed node, for the shapes records are made of: mappings with
    scalar keys, sequences, and scalars.  Gives the same result as PyYAML's SafeConstructor
    for these (a third faster: no generators or bookkeeping per node).  Anything else raises
    _Unusual and the caller lets PyYAML construct the whole document: merge keys, odd tags or
    keys, and a collection met twice (an alias: PyYAML shares it, and copes with cycles)."""
    cls, tag = node.__class__, node.tag
    if cls is yaml.ScalarNode:
        if tag == _STR:
            return node.value
        if tag == _NULL:
            return None
        if tag == _INT and node.value.isdigit() and (node.value[0] != "0" or node.value == "0"):
            return int(node.value)   # plain decimal; 012 is octal in YAML 1.1
        return loader.construct_object(node, deep=True)  # bool, float, other int forms
    if id(node) in seen:
        raise _Unusual
    seen.add(id(node))
    if cls is yaml.MappingNode and tag == _MAP:
        out = {}
        for key, value in node.value:
            if key.__class__ is not yaml.ScalarNode or key.tag not in (_STR, _INT, _NULL):
                raise _Unusual
            out[_build(loader, key, seen)] = _build(loader, value, seen)
        return out
    if cls is yaml.SequenceNode and tag == _SEQ:
        return [_build(loader, item, seen) for item in node.value]
    raise _Unusual


def _load(text: str) -> Any:
    """yaml.load(text, _RecordLoader), with the C composer and the fast builder above."""
    loader = _RecordLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            return _build(loader, node, set())
        except _Unusual:
            return loader.construct_document(node)
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Image:
    url: str
    width: int | None = None
    height: int | None = None
    title: str | None = None
    is_cached: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    name: str
    domain: str
    images: tuple[Image, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Related:
    title: str | None = None
    excerpt: str | None = None
    published_at: datetime | None = None
    web_url: str | None = None
    amp_web_url: str | None = None
    cdn_amp_web_url: str | None = None
    type: str | None = None
    provider: Provider | None = None
    quality: int | None = None
    images: tuple[Image, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    title: str
    web_url: str
    published_at: datetime
    provider: Provider
    category: str = "news"
    excerpt: str = ""
    original_url: str | None = None
    amp_web_url: str | None = None
    cdn_amp_web_url: str | None = None
    type: str = "article"
    quality: int | None = None
    heat: int | None = None
    published: bool | None = None
    topics: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    related: tuple[Related, ...] = ()
    secured: str | None = None
    body: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def id(self) -> str:
        """record_id(web_url), computed once per record (a hash: the store asks often)."""
        return record_id(self.web_url)

    @property
    def slug(self) -> str:
        return slugify(self.title) or self.id

    @property
    def is_public(self) -> bool:
        return self.published is True

    def replace(self, **changes: Any) -> Record:
        """A copy with `changes` (as dataclasses.replace, at a fraction of the cost: the fields
        are copied as they are, without going through __init__)."""
        unknown = changes.keys() - _RECORD_FIELDS
        if unknown:
            raise TypeError(f"Record has no field {', '.join(sorted(unknown))}")
        state = dict(self.__dict__)
        if "web_url" in changes:
            state.pop("id", None)            # the cached id follows web_url
        state.update(changes)
        new = object.__new__(Record)
        new.__dict__.update(state)
        return new


_RECORD_FIELDS = frozenset(f.name for f in fields(Record))


def record_id(web_url: str) -> str:
    """The stable id of a record: its identity is the canonical webUrl."""
    return hashlib.sha256(web_url.encode("utf-8")).hexdigest()[:16]


def slugify(text: str, max_length: int = 80) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0] or slug[:max_length]
    return slug


# --------------------------------------------------------------------------- dates

def format_datetime(value: datetime) -> str:
    value = value.astimezone(UTC) if value.tzinfo else value
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


_DATE_RX = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ]+(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?"
    r"\s*(Z|z|[+-]\d{1,2}(?::?\d{2})?)?$")


def parse_datetime(value: Any) -> datetime:
    """A UTC-aware datetime from an ISO 8601 string (or a datetime); ValueError if impossible."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    text = value.strip()
    m = _DATE_RX.match(text)
    if not m:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}")
    year, month, day, hour, minute, second, frac, tz = m.groups()
    try:
        micro = round(float(frac) * 1_000_000) if frac else 0
        parsed = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                          int(second or 0), min(micro, 999_999), tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"impossible date {value!r}: {exc}") from None
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:-2] or digits), int(digits[-2:]) if len(digits) > 2 else 0
        from datetime import timedelta
        parsed -= sign * timedelta(hours=hours, minutes=minutes)
    return parsed


# --------------------------------------------------------------------------- reading

_KNOWN_TOP = ("category", "title", "excerpt", "publishedDateTime", "originalUrl", "webUrl",
              "ampWebUrl", "cdnAmpWebUrl", "type", "quality", "heat", "published", "provider",
              "topics", "images", "related", "secured")
_KNOWN_RELATED = ("title", "excerpt", "publishedDateTime", "webUrl", "ampWebUrl", "cdnAmpWebUrl",
                  "type", "provider", "quality", "images")
_KNOWN_PROVIDER = ("name", "domain", "images")
_KNOWN_IMAGE = ("url", "width", "height", "title", "isCached")


def parse_record(text: str | bytes) -> Record:
    """Read one record file's text.  Raises RecordError naming the field or line at fault."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(f"not UTF-8 text (byte {exc.start})") from None
    front, body, front_line = split_front_matter(text)
    try:
        data = _load(front)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + front_line if mark else None
        raise RecordError(f"broken YAML: {exc.problem or exc}", line=line) from None
    except yaml.YAMLError as exc:
        raise RecordError(f"broken YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecordError("front matter is not a mapping of fields", line=front_line)
    try:
        return record_from_mapping(data, body=body)
    except RecordError as exc:
        if exc.field and exc.line is None:
            top = exc.field.split(".")[0].split("[")[0]
            m = re.search(rf"(?m)^{re.escape(top)}\s*:", front)
            if m:
                line = front.count("\n", 0, m.start()) + front_line
                raise RecordError(exc.message, field=exc.field, line=line) from None
        raise


def split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter, body, line number of the first front-matter line)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---\n"):
        raise RecordError("not a record: the file does not start with a '---' front-matter line",
                          line=1)
    end = text.find("\n---\n", 3)
    if end >= 0:
        rest = text[end + 5:]
    elif text.endswith("\n---"):
        end, rest = len(text) - 4, ""
    else:
        raise RecordError("not a record: the front matter has no closing '---' line")
    front = text[4:end + 1]
    body = rest[1:] if rest.startswith("\n") else rest
    return front, body, 2


def _str(data: dict[str, Any], key: str, where: str, *, required: bool = False,
         default: str | None = None) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError("required field is missing", field=where + key)
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RecordError(f"expected text, got {type(value).__name__}", field=where + key)
    return value if isinstance(value, str) else str(value)


def _int(data: dict[str, Any], key: str, where: str, *, minimum: int | None = None) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"expected an integer, got {value!r}", field=where + key)
    if minimum is not None and value < minimum:
        raise RecordError(f"must be at least {minimum}, got {value}", field=where + key)
    return value


def _date(data: dict[str, Any], key: str, where: str, *, required: bool) -> datetime | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError("required field is missing", field=where + key)
        return None
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise RecordError(str(exc), field=where + key) from None


def _extra(data: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {str(k): v for k, v in data.items() if k not in known}


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a mapping, got {type(value).__name__}", field=where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"expected a list, got {type(value).__name__}", field=where)
    return value


def _images(value: Any, where: str) -> tuple[Image, ...]:
    images = []
    for i, item in enumerate(_list(value, where)):
        at = f"{where}[{i}]"
        data = _mapping(item, at)
        cached = data.get("isCached")
        if cached is not None and not isinstance(cached, bool):
            raise RecordError(f"expected true or false, got {cached!r}", field=at + ".isCached")
        images.append(Image(url=_str(data, "url", at + ".", required=True) or "",
                            width=_int(data, "width", at + ".", minimum=0),
                            height=_int(data, "height", at + ".", minimum=0),
                            title=_str(data, "title", at + "."), is_cached=cached,
                            extra=_extra(data, _KNOWN_IMAGE)))
    return tuple(images)


def _provider(value: Any, where: str, *, required: bool) -> Provider | None:
    if value is None:
        if required:
            raise RecordError("required field is missing", field=where)
        return None
    data = _mapping(value, where)
    return Provider(name=_str(data, "name", where + ".", required=True) or "",
                    domain=_str(data, "domain", where + ".", required=required) or "",
                    images=_images(data.get("images"), where + ".images"),
                    extra=_extra(data, _KNOWN_PROVIDER))


def _related(value: Any) -> tuple[Related, ...]:
    items = []
    for i, item in enumerate(_list(value, "related")):
        at = f"related[{i}]"
        data = _mapping(item, at)
        w = at + "."
        items.append(Related(
            title=_str(data, "title", w), excerpt=_str(data, "excerpt", w),
            published_at=_date(data, "publishedDateTime", w, required=False),
            web_url=_str(data, "webUrl", w), amp_web_url=_str(data, "ampWebUrl", w),
            cdn_amp_web_url=_str(data, "cdnAmpWebUrl", w), type=_str(data, "type", w),
            provider=_provider(data.get("provider"), w + "provider", required=False),
            quality=_int(data, "quality", w, minimum=0),
            images=_images(data.get("images"), w + "images"),
            extra=_extra(data, _KNOWN_RELATED)))
    return tuple(items)


# The longest text a record file may hold in these fields (issue 15): far above any real record
# (the longest title of the development set has 122 characters, the longest body 1,249), low
# enough that one imported file cannot make every page that lists it heavy.
FIELD_LIMITS = {"title": 2_000, "excerpt": 20_000, "provider.name": 500, "topics": 200,
                "body": 1_000_000}
# characters XML 1.0 cannot hold: C0 controls but tab, LF and CR; lone surrogates; U+FFFE/FFFF
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML cannot carry (nor an HTML page show)."""
    return XML_INVALID.sub("", text)


def _check_lengths(record: Record) -> None:
    for field_name, value in (("title", record.title), ("excerpt", record.excerpt),
                              ("provider.name", record.provider.name), ("body", record.body),
                              *(("topics", t) for t in record.topics)):
        limit = FIELD_LIMITS[field_name]
        if len(value) > limit:
            raise RecordError(f"{len(value):,} characters; at most {limit:,} are allowed",
                              field=field_name)


def record_from_mapping(data: dict[str, Any], *, body: str = "") -> Record:
    """Build a Record from a front-matter mapping; RecordError names the field at fault."""
    published = data.get("published")
    if published is not None and not isinstance(published, bool):
        raise RecordError(f"expected true or false, got {published!r}", field="published")
    topics = []
    for i, topic in enumerate(_list(data.get("topics"), "topics")):
        if not isinstance(topic, str) or not topic.strip():
            raise RecordError(f"expected a topic name, got {topic!r}", field=f"topics[{i}]")
        if topic not in topics:
            topics.append(topic)
    title = _str(data, "title", "", required=True) or ""
    if not title.strip():
        raise RecordError("must not be empty", field="title")
    web_url = _str(data, "webUrl", "", required=True) or ""
    if not web_url.strip():
        raise RecordError("must not be empty", field="webUrl")
    published_at = _date(data, "publishedDateTime", "", required=True)
    assert published_at is not None
    provider = _provider(data.get("provider"), "provider", required=True)
    assert provider is not None
    record = Record(
        category=_str(data, "category", "", default="news") or "news",
        title=title,
        excerpt=_str(data, "excerpt", "", default="") or "",
        published_at=published_at,
        original_url=_str(data, "originalUrl", ""),
        web_url=web_url,
        amp_web_url=_str(data, "ampWebUrl", ""),
        cdn_amp_web_url=_str(data, "cdnAmpWebUrl", ""),
        type=_str(data, "type", "", default="article") or "article",
        quality=_int(data, "quality", "", minimum=0),
        heat=_int(data, "heat", ""),
        published=published,
        provider=provider,
        topics=tuple(topics),
        images=_images(data.get("images"), "images"),
        related=_related(data.get("related")),
        secured=_str(data, "secured", ""),
        body=body,
        extra=_extra(data, _KNOWN_TOP),
    )
    _check_lengths(record)
    return record


# --------------------------------------------------------------------------- writing

_NONPRINTABLE = re.compile(
    "[^\x09\x0a\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    "\U00010000-\U0010ffff]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
# a character that a double-quoted scalar cannot hold as is: the nonprintable ones, and the
# backslash, double quote, newline and tab (which _NONPRINTABLE lets through)
_MUST_ESCAPE = re.compile(
    r"[^\x20\x21\x23-\x5b\x5d-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    r"\U00010000-\U0010ffff]")
_PLAIN_RX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .,&'()/_+-]*$")


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quoted(text: str) -> str:
    """A YAML double-quoted scalar, escaping only what must be escaped (unicode stays)."""
    if not _MUST_ESCAPE.search(text):   # most text: one scan instead of five
        return f'"{text}"'
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    if _NONPRINTABLE.search(out):
        out = _NONPRINTABLE.sub(_escape_char, out)
    return f'"{out}"'


@lru_cache(maxsize=4096)
def _is_plain_safe(text: str) -> bool:
    if not _PLAIN_RX.match(text) or text != text.strip() or "  " in text:
        return False
    try:
        return yaml.load(text, Loader=_RecordLoader) == text  # noqa: S506
    except yaml.YAMLError:
        return False


def plain(text: str) -> str:
    """A plain scalar where the text reads back as itself, else a quoted one."""
    return text if _is_plain_safe(text) else quoted(text)


def dump_yaml(value: Any) -> str:
    """YAML text of any value, unicode kept readable.  PyYAML's emitter writes NEL and the
    Unicode line separators raw, which do not read back; such values are written escaped."""
    dumped: str = yaml.dump(value, Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                            default_flow_style=False, width=1 << 30)
    if _LINE_BREAKS.search(dumped):
        dumped = yaml.dump(value, Dumper=_Dumper, allow_unicode=False, sort_keys=False,
                           default_flow_style=False, width=1 << 30)
    return dumped


def load_yaml(text: str) -> Any:
    """Read YAML text written by dump_yaml (timestamps stay strings, as in records)."""
    return _load(text)


_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")


def _dump_extra(key: str, value: Any, indent: str) -> list[str]:
    dumped = dump_yaml({key: value})
    return [indent + line for line in dumped.rstrip("\n").split("\n")]


def _image_lines(images: tuple[Image, ...], indent: str) -> list[str]:
    lines = []
    for img in images:
        lines.append(f"{indent}- url: {quoted(img.url)}")
        inner = indent + "  "
        if img.width is not None:
            lines.append(f"{inner}width: {img.width}")
        if img.height is not None:
            lines.append(f"{inner}height: {img.height}")
        if img.title is not None:
            lines.append(f"{inner}title: {quoted(img.title)}")
        if img.is_cached is not None:
            lines.append(f"{inner}isCached: {'true' if img.is_cached else 'false'}")
        for k, v in img.extra.items():
            lines.extend(_dump_extra(k, v, inner))
    return lines


def _provider_lines(provider: Provider, indent: str) -> list[str]:
    lines = [f"{indent}name: {plain(provider.name)}", f"{indent}domain: {plain(provider.domain)}"]
    if provider.images:
        lines.append(f"{indent}images:")
        lines.extend(_image_lines(provider.images, indent + "  "))
    for k, v in provider.extra.items():
        lines.extend(_dump_extra(k, v, indent))
    return lines


def _related_lines(item: Related) -> list[str]:
    out: list[str] = []
    ind = "    "

    def add(text: str) -> None:
        out.append((ind if out else "  - ") + text)

    if item.title is not None:
        add(f"title: {quoted(item.title)}")
    if item.excerpt is not None:
        add(f"excerpt: {quoted(item.excerpt)}")
    if item.published_at is not None:
        add(f"publishedDateTime: {format_datetime(item.published_at)}")
    for key, value in (("webUrl", item.web_url), ("ampWebUrl", item.amp_web_url),
                       ("cdnAmpWebUrl", item.cdn_amp_web_url)):
        if value is not None:
            add(f"{key}: {quoted(value)}")
    if item.type is not None:
        add(f"type: {plain(item.type)}")
    if item.provider is not None:
        add("provider:")
        out.extend(_provider_lines(item.provider, ind + "  "))
    if item.quality is not None:
        add(f"quality: {item.quality}")
    if item.images:
        add("images:")
        out.extend(_image_lines(item.images, ind + "  "))
    for k, v in item.extra.items():
        extra = _dump_extra(k, v, ind)
        if not out:
            extra[0] = "  - " + extra[0][len(ind):]
        out.extend(extra)
    if not out:
        out.append("  - {}")
    return out


def dump_record(record: Record) -> str:
    """The canonical text of a record file."""
    lines = ["---", f"category: {plain(record.category)}", f"title: {quoted(record.title)}",
             f"excerpt: {quoted(record.excerpt)}",
             f"publishedDateTime: {format_datetime(record.published_at)}"]
    if record.original_url is not None:
        lines.append(f"originalUrl: {quoted(record.original_url)}")
    lines.append(f"webUrl: {quoted(record.web_url)}")
    if record.amp_web_url is not None:
        lines.append(f"ampWebUrl: {quoted(record.amp_web_url)}")
    if record.cdn_amp_web_url is not None:
        lines.append(f"cdnAmpWebUrl: {quoted(record.cdn_amp_web_url)}")
    lines.append(f"type: {plain(record.type)}")
    if record.quality is not None:
        lines.append(f"quality: {record.quality}")
    if record.heat is not None:
        lines.append(f"heat: {record.heat}")
    if record.published is not None:
        lines.append(f"published: {'true' if record.published else 'false'}")
    lines += ["", "provider:", *_provider_lines(record.provider, "  ")]
    if record.topics:
        lines += ["", "topics:", *(f"  - {plain(t)}" for t in record.topics)]
    else:
        lines += ["", "topics: []"]
    if record.images:
        lines += ["", "images:", *_image_lines(record.images, "  ")]
    if record.related:
        lines += ["", "related:"]
        for item in record.related:
            lines.extend(_related_lines(item))
    for k, v in record.extra.items():
        lines += ["", *_dump_extra(k, v, "")]
    if record.secured is not None:
        lines += ["", f"secured: {quoted(record.secured)}"]
    lines += ["---", ""]
    text = "\n".join(lines) + "\n"
    if record.body:
        text += record.body
    return text
