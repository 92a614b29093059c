"""How every route reads its input: request bodies, JSON, form fields and URLs.

Malformed input of any kind is the client's mistake, answered 400 or 404 before
it can reach a view or the database as a value they cannot handle (and so
become a 500):

- a body the server cannot read (a malformed chunked encoding, say), and one
  longer than MAX_CONTENT_LENGTH, with a Content-Length or without (chunked),
  which is a 413;
- JSON nested deeper than Python can parse, holding text no database can
  store (unpaired UTF-16 surrogates, and NUL characters, which PostgreSQL
  refuses in text), or an object with a key twice;
- NUL characters in form fields, the query string or the path;
- integers in URLs (``<int:...>``) too large for an INTEGER column, or
  written in other digits than 0 to 9, which simply match no route.

Commands read theirs through STORABLE_TEXT: click passes an argument that is not
valid UTF-8 on with surrogate escapes, which no database can store either; and
numbers through WholeNumber, digits 0 to 9 only.
"""

import re
from collections.abc import Iterator
from typing import Any

import click
from flask import Flask, abort, request
from flask import Request as FlaskRequest
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, ValidationError
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream

# The largest value an INTEGER column holds in every database the template
# supports (PostgreSQL's is 32-bit): the type of a `Mapped[int]` column, and so
# of every id. A route over a BigInteger column passes its own `max`.
LARGEST_INTEGER = 2**31 - 1
UNSTORABLE_TEXT = "Text must not contain NUL characters or unpaired surrogates."
# Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt),
# which Python's unicodedata lacks, as a regular expression's character class:
# characters that show nothing unless a font knows them. Zero-width spaces and
# joiners, direction marks, variation selectors, the Hangul fillers, tag
# characters... Those beyond U+FFFF are written as themselves, which both
# Python and JSON Schema's (ECMAScript's) regular expressions read.
DEFAULT_IGNORABLE = (
    r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
IGNORABLE = re.compile(f"[{DEFAULT_IGNORABLE}]")
# What a name, one line of text, must not hold (a character class, as above):
# control characters (NUL among them, which PostgreSQL refuses), line and
# paragraph separators, the bidirectional controls and marks that show text in
# another order than it reads, and the interlinear annotation characters,
# which hide text.
NOT_IN_A_NAME = (
    r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
    r"\u2066-\u2069\ufff9-\ufffb"
)
UNNAMEABLE = re.compile(f"[{NOT_IN_A_NAME}]")
# What shows nothing on its own: whitespace, NOT_IN_A_NAME's characters, the
# default-ignorable ones and the blank Braille pattern (a symbol that is not
# ignorable). Everything else shows: a letter, a mark over a dotted circle, a
# private or unassigned code point as a box. The rule is these lists, not
# Unicode's categories, so that a name valid on one Python is on every other
# (each knows another version of Unicode) and in the OpenAPI document.
INVISIBLE = rf"\s{NOT_IN_A_NAME}{DEFAULT_IGNORABLE}\u2800"
VISIBLE = re.compile(f"[^{INVISIBLE}]")
# name_problem's whole rule as one pattern, for schemas to document.
NAME_PATTERN = rf"^[^{NOT_IN_A_NAME}]*[^{INVISIBLE}][^{NOT_IN_A_NAME}]*$"
# A number as URLs, query strings and commands write it.
DIGITS = re.compile("[0-9]+")


def init_app(app: Flask) -> None:
    """Call before blueprints are registered: their routes' converters are
    chosen as they are added."""
    app.request_class = Request
    app.json = JSONProvider(app)
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.before_request(refuse_nul_in_url)


def storable(text: str) -> bool:
    """Whether a database can store ``text``: no NUL, no unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def default_ignorable(char: str) -> bool:
    """Whether ``char`` is a Default_Ignorable_Code_Point: one that shows
    nothing (U+200B zero-width space, U+FE0F variation selector, U+3164 Hangul
    filler, U+E0100 variation selector 17...)."""
    return IGNORABLE.fullmatch(char) is not None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name something (an item, a token), or None if it
    can: it must be one line without NOT_IN_A_NAME's characters, with at least
    one visible character (a name of zero-width spaces, soft hyphens or Hangul
    fillers looks empty in every list it appears in). NAME_PATTERN says the
    same."""
    if UNNAMEABLE.search(name):
        return (
            "A name must be one line, without control characters or "
            "bidirectional controls."
        )
    if not VISIBLE.search(name):
        return "A name needs at least one visible character."
    return None


class StorableText(click.types.StringParamType):
    """A command's text argument or option, refused unless storable (a usage
    error naming the parameter, not a traceback)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        text = super().convert(value, param, ctx)
        if not storable(text):
            self.fail(UNSTORABLE_TEXT, param, ctx)
        return text


STORABLE_TEXT = StorableText()


def plain_digits(text: str) -> bool:
    """Whether ``text`` is a whole number written in digits 0 to 9 only, not
    as int() also reads one ("1_0", "+1", " 1", other scripts' digits)."""
    return DIGITS.fullmatch(text) is not None


class WholeNumber(click.IntRange):
    """A command's whole number, written in digits 0 to 9: click reads it
    with int(), which takes "1_0" as 10, and "+1" and other scripts' digits
    (a full-width 1) as 1."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if isinstance(value, str) and not plain_digits(value):
            self.fail(f"{value!r} is not a whole number in digits 0 to 9.", param, ctx)
        return super().convert(value, param, ctx)


class BodyStream:
    """The request body; a failure to read it is the client's (400), not a bug,
    and so is a body longer than ``limit`` (413)."""

    def __init__(self, stream: Any, limit: int | None) -> None:
        self._stream = stream
        self._limit = limit
        self._length = 0

    def read(self, size: int = -1) -> bytes:
        return self._call(self._stream.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._call(self._stream.readline, size)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _call(self, method: Any, size: int) -> bytes:
        try:
            data: bytes = method(size)
        except HTTPException:
            raise
        except Exception:
            # WSGI servers raise their own exception types for bodies they
            # cannot decode (gunicorn: InvalidChunkSize, NoMoreData...).
            raise BadRequest("The request body is malformed.") from None
        self._length += len(data)
        if self._limit is not None and self._length > self._limit:
            raise RequestEntityTooLarge()
        return data


class Request(FlaskRequest):
    @cached_property
    def stream(self) -> Any:
        limit = self.max_content_length
        if limit is not None and (self.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        # Werkzeug reads a body without a Content-Length (chunked) up to the
        # limit and stops there, silently cutting off a longer one: a byte
        # beyond the limit tells the two apart.
        beyond = None if limit is None else limit + 1
        stream = get_input_stream(self.environ, max_content_length=beyond)
        return BodyStream(stream, limit)

    def _load_form_data(self) -> None:
        super()._load_form_data()
        for key, values in self.form.lists():
            if not (storable(key) and all(storable(value) for value in values)):
                raise BadRequest(UNSTORABLE_TEXT)

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """A 400 that says what is wrong with the body (Flask's own says
        nothing in production); a body that is not JSON at all stays a 415."""
        if e is None:
            return super().on_json_loading_failed(e)
        if isinstance(e, UnusableJSONError):
            raise BadRequest(str(e)) from None
        raise BadRequest("The body is not valid JSON.") from None


class UnusableJSONError(ValueError):
    """JSON that parses, but that no view could use or store."""


class JSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if "object_hook" not in kwargs:  # Flask's session cookies pass their own
            kwargs["object_pairs_hook"] = without_repeated_keys
        try:
            data = super().loads(s, **kwargs)
        except RecursionError:
            raise UnusableJSONError("The JSON body is nested too deeply.") from None
        if not all_storable(data):
            raise UnusableJSONError(UNSTORABLE_TEXT)
        return data


def without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"name": "a", "name": "b"} would be read as "b", where a proxy or
    # another parser in front of the service may have read "a".
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise UnusableJSONError(f"The JSON body has the key {key!r} twice.")
        found[key] = value
    return found


def all_storable(data: Any) -> bool:
    """Whether every string in parsed JSON, keys included, is storable."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not storable(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` matching only what an INTEGER column holds; larger is a 404."""

    # Werkzeug's \d also matches other scripts' digits, which int() reads:
    # /items/ followed by a full-width 2 (U+FF12) or an Arabic-Indic one
    # (U+0662) was item 2, a path that a proxy's rules, caches and logs would
    # take for another resource.
    regex = DIGITS.pattern
    signed_regex = f"-?{DIGITS.pattern}"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", LARGEST_INTEGER)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        if self.max is not None and len(value) > len(str(self.max)):
            # Far too large, and too long for int() to read quickly.
            raise ValidationError()
        return super().to_python(value)


def refuse_nul_in_url() -> None:
    # The path and query string as they came, before Werkzeug decodes them.
    environ = request.environ
    path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
    if "\x00" in path or "%00" in query:
        abort(400, description=UNSTORABLE_TEXT)
