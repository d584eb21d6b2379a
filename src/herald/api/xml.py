"""XML where the campaign APIs herald follows speak it: creating a campaign, running one and
reading one take and answer `application/xml` (or `text/xml`) as well as JSON, chosen by the
request's `Content-Type` and `Accept` (docs/api.md, XML). JSON stays the default.

The XML is the JSON's shape, element for field:

- an object is an element whose children are its fields; a field whose name is not an XML
  name (a label such as "first name") is `<entry key="first name">`;
- a list is its items as `<item>` children of the field's element (`<to/>` is an empty list);
  a request may also repeat the field's element once per item, as OpenAPI's XML rules do
  (`<to>+30...</to><to>...</to>`);
- null is `nil="true"` (or the text `null`, where the field may be null); true and false are
  `true`/`false` (1/0 too), numbers are their digits.

Requests are read by defusedxml: no DTD, no entity, no external reference, at most
`api.max_xml_elements` elements `api.max_xml_depth` deep, within the body limit the guard
enforces; anything else is 400 `malformed_body` naming what was wrong. What a request says
is then converted to the JSON the route's schema describes, and checked by that schema as a
JSON body is (422 `invalid_request` names the field).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

XML_TYPES = ("application/xml", "text/xml")
JSON_TYPE = "application/json"
XML_MEDIA_TYPE = "application/xml; charset=utf-8"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NIL = "nil"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
# XML 1.0 cannot carry these characters, escaped or not: answers show U+FFFD instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class XmlError(ValueError):
    """A request body that is not XML herald reads; the message says where and why."""


# --- reading --------------------------------------------------------------------------------


class _Bounded(ET.TreeBuilder):
    """A tree builder that stops at `most` elements or `deepest` levels."""

    def __init__(self, most: int, deepest: int) -> None:
        super().__init__()
        self._most, self._deepest = most, deepest
        self._count = self._depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self._count += 1
        self._depth += 1
        if self._count > self._most:
            raise XmlError(f"more than {self._most} elements (api.max_xml_elements)")
        if self._depth > self._deepest:
            raise XmlError(f"elements nested more than {self._deepest} deep (api.max_xml_depth)")
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


def parse_xml(body: bytes, *, max_elements: int, max_depth: int) -> ET.Element:
    """The root element of `body`, read safely; XmlError says why it cannot be."""
    parser = DefusedXMLParser(
        target=_Bounded(max_elements, max_depth),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(body)
        root: ET.Element = parser.close()
    except XmlError:
        raise
    except DefusedXmlException as exc:
        raise XmlError(f"the body is refused: {type(exc).__name__} (no DTDs or entities)") from None
    except ET.ParseError as exc:
        raise XmlError(f"the body is not well-formed XML: {exc}") from None
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_nil(element: ET.Element) -> bool:
    value = element.get(_NIL) or element.get(_XSI_NIL) or ""
    return value.strip().lower() in ("true", "1")


class _Schemas:
    """JSON schemas of the OpenAPI document, with `$ref`s into its components resolved."""

    def __init__(self, components: Mapping[str, Any]) -> None:
        self._components = components

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            schema = self._components.get(name, {})
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def kind(self, schema: Any) -> str:
        """object, array, string, integer, number, boolean, or "" when not one type."""
        resolved = self.resolve(schema)
        kind = resolved.get("type")
        if isinstance(kind, str):
            return kind
        if "properties" in resolved or "additionalProperties" in resolved:
            return "object"
        return ""

    def alternatives(self, schema: Any) -> tuple[list[dict[str, Any]], bool]:
        """The non-null alternatives of an anyOf/oneOf (or the schema alone), and whether
        null is one of them."""
        resolved = self.resolve(schema)
        choices = resolved.get("anyOf") or resolved.get("oneOf")
        if not choices:
            return [resolved], resolved.get("type") == "null"
        options = [self.resolve(c) for c in choices]
        rest = [o for o in options if o.get("type") != "null"]
        return rest, len(rest) < len(options)


def _is_null(element: ET.Element, nullable: bool) -> bool:
    if _is_nil(element):
        return True
    return nullable and len(element) == 0 and (element.text or "") == "null"


def xml_to_data(element: ET.Element, schema: Any, schemas: _Schemas) -> Any:
    """The JSON value `element` stands for under `schema` (see the module's docstring)."""
    options, nullable = schemas.alternatives(schema)
    if _is_null(element, nullable):
        return None
    if len(options) > 1:
        # Several shapes: elements inside mean an object or a list, text means a value.
        nested = len(element) > 0
        for option in options:
            if (schemas.kind(option) in ("object", "array")) == nested:
                return _convert(element, option, schemas)
    return _convert(element, options[0] if options else {}, schemas)


def _convert(element: ET.Element, schema: dict[str, Any], schemas: _Schemas) -> Any:
    kind = schemas.kind(schema)
    resolved = schemas.resolve(schema)
    if kind == "object":
        return _object(element, resolved, schemas)
    if kind == "array":
        return [xml_to_data(child, resolved.get("items", {}), schemas) for child in element]
    if len(element) > 0:
        raise XmlError(f"<{_local(element.tag)}> holds elements where a value goes")
    text = element.text or ""
    if kind == "boolean":
        return {"true": True, "1": True, "false": False, "0": False}.get(text.strip(), text)
    if kind == "integer" and _INTEGER.match(text.strip()):
        return int(text.strip())
    if kind == "number":
        try:
            return float(text) if not _INTEGER.match(text.strip()) else int(text.strip())
        except ValueError:
            return text
    return text


def _object(element: ET.Element, schema: dict[str, Any], schemas: _Schemas) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    result: dict[str, Any] = {}
    for child in element:
        name = _local(child.tag)
        if name == "entry" and "key" in child.attrib and name not in properties:
            name = child.attrib["key"]
        field = properties.get(name, extra if isinstance(extra, dict) else {})
        options, nullable = schemas.alternatives(field)
        array = next((o for o in options if schemas.kind(o) == "array"), None)
        if array is not None and not _is_null(child, nullable):
            result.setdefault(name, [])
            if not isinstance(result[name], list):
                raise XmlError(f"<{name}> given twice")
            result[name].extend(_items(child, array, schemas))
            continue
        if name in result:
            raise XmlError(f"<{name}> given twice")
        result[name] = xml_to_data(child, field, schemas)
    return result


def _items(element: ET.Element, array: dict[str, Any], schemas: _Schemas) -> list[Any]:
    """A list field's element: a wrapper of items (`<to><item>...</item></to>`), or one item
    itself, when the field's element repeats once per item (`<to>...</to><to>...</to>`)."""
    items = schemas.resolve(array).get("items", {})
    options, _ = schemas.alternatives(items)
    if len(element) == 0:
        if not (element.text or ""):
            return []  # an empty wrapper: what herald writes for an empty list
        return [xml_to_data(element, items, schemas)]  # one item's value, unwrapped
    item_object = next((o for o in options if schemas.kind(o) == "object"), None)
    if item_object is not None:
        names = set(schemas.resolve(item_object).get("properties", {}))
        if {_local(c.tag) for c in element} <= names:
            return [xml_to_data(element, items, schemas)]  # the item's own fields
    return [xml_to_data(child, items, schemas) for child in element]


# --- writing --------------------------------------------------------------------------------


def data_to_xml(value: Any, root: str) -> bytes:
    """`value` (JSON data) as an XML document with the root element `root`."""
    element = _element(root, value)
    # A raw carriage return would reach the reader as a line feed (XML normalises line ends).
    text = ET.tostring(element, encoding="unicode").replace("\r", "&#13;")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text.encode("utf-8")


def _element(name: str, value: Any) -> ET.Element:
    valid = bool(_NAME.match(name)) and not name.lower().startswith("xml")
    element = ET.Element(name) if valid else ET.Element("entry", {"key": _clean(name)})
    if value is None:
        element.set(_NIL, "true")
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, Mapping):
        element.extend(_element(str(k), v) for k, v in value.items())
    elif isinstance(value, Sequence) and not isinstance(value, str):
        element.extend(_element("item", v) for v in value)
    else:
        element.text = _clean(str(value))
    return element


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


# --- negotiation ----------------------------------------------------------------------------


def _media_types(header: str) -> list[tuple[str, float]]:
    found = []
    for part in header.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind:
            found.append((kind.lower(), q))
    return found


def _quality(accepted: list[tuple[str, float]], wanted: Sequence[str]) -> float:
    best, rank = 0.0, -1
    for kind, q in accepted:
        for want in wanted:
            major = want.split("/")[0]
            specificity = 2 if kind == want else 1 if kind == f"{major}/*" else 0
            matches = kind == "*/*" or specificity
            if matches and (specificity > rank or (specificity == rank and q > best)):
                best, rank = q, specificity
    return best


def answers_xml(accept: str | None, sent_xml: bool) -> bool:
    """Whether to answer in XML: when `Accept` prefers it to JSON; without a preference,
    in the format the request came in."""
    if not accept or not accept.strip():
        return sent_xml
    accepted = _media_types(accept)
    xml, plain = _quality(accepted, XML_TYPES), _quality(accepted, (JSON_TYPE,))
    if xml != plain:
        return xml > plain
    return sent_xml


def is_xml(content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind in XML_TYPES or kind.endswith("+xml")


@dataclass(frozen=True)
class XmlRoute:
    method: str
    path: str  # the route's path template, as in the OpenAPI document
    root: str  # the root element of its answers

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and bool(compile_path(self.path)[0].match(path))


class XmlRoutes:
    """The routes that speak XML, and whether a request to one of them is answered in XML."""

    def __init__(self, routes: Sequence[XmlRoute]) -> None:
        self.routes = tuple(routes)

    def route(self, scope: Scope) -> XmlRoute | None:
        if scope["type"] != "http":
            return None
        return next((r for r in self.routes if r.matches(scope["method"], scope["path"])), None)

    def wants_xml(self, scope: Scope) -> bool:
        """Whether an answer to this request goes in XML (for the guard's own refusals)."""
        if self.route(scope) is None:
            return False
        sent = is_xml(_header(scope, b"content-type"))
        return answers_xml(_header(scope, b"accept"), sent)


@dataclass(frozen=True)
class XmlLimits:
    max_elements: int
    max_depth: int


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class XmlNegotiation:
    """ASGI middleware: XML bodies of the XML routes become the JSON their schema describes
    before FastAPI reads them; JSON answers become XML when the caller prefers it. It runs
    inside herald/api/guard.py's RequestGuard, so the key is checked and the body limited
    before any of this reads it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: XmlRoutes,
        limits: XmlLimits,
        openapi: Callable[[], Mapping[str, Any]],
        refuse: Callable[[str, bool], Any],
    ) -> None:
        self.app = app
        self.routes = routes
        self.limits = limits
        self.openapi = openapi  # the app's OpenAPI document: request schemas come from it
        self.refuse = refuse  # (message, as XML) -> the 400 malformed_body response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        sent_xml = is_xml(_header(scope, b"content-type"))
        reply_xml = answers_xml(_header(scope, b"accept"), sent_xml)
        if sent_xml:
            body = await _read_body(receive)
            try:
                converted = self._convert(route, body) if body.strip() else b""
            except XmlError as exc:
                await self.refuse(str(exc), reply_xml)(scope, receive, send)
                return
            scope = dict(scope)
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k.lower() not in (b"content-type", b"content-length")
            ] + [(b"content-type", JSON_TYPE.encode()), (b"content-length", b"%d" % len(converted))]
            receive = _replay(converted, receive)
        if reply_xml:
            send = _xml_answer(send, route.root)
        await self.app(scope, receive, send)

    def _convert(self, route: XmlRoute, body: bytes) -> bytes:
        limits = self.limits
        root = parse_xml(body, max_elements=limits.max_elements, max_depth=limits.max_depth)
        document = self.openapi()
        operation = document.get("paths", {}).get(route.path, {}).get(route.method.lower(), {})
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get(JSON_TYPE, {}).get("schema", {})
        schemas = _Schemas(document.get("components", {}).get("schemas", {}))
        return json.dumps(xml_to_data(root, schema, schemas), ensure_ascii=False).encode()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # the disconnect, when it comes

    return replay


def _xml_answer(send: Send, root: str) -> Send:
    """A `send` that turns a JSON answer into XML (an error body's root is `error`)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def converting(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = list(start.get("headers", []))
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        if body and content_type.split(b";")[0].strip() == JSON_TYPE.encode():
            data = json.loads(body)
            if isinstance(data, dict) and set(data) == {"error"}:
                body = data_to_xml(data["error"], "error")
            else:
                body = data_to_xml(data, root)
            headers = [
                (k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")
            ] + [
                (b"content-type", XML_MEDIA_TYPE.encode()),
                (b"content-length", b"%d" % len(body)),
            ]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return converting
