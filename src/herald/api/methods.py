"""The methods each path takes, read from the app's own OpenAPI document, so that the `Allow`
header of an OPTIONS answer or a 405 lists exactly what the document says (the router alone
names only the first route it tried: `Allow: POST` for /v1/campaigns, which also takes GET)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.routing import compile_path

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class AllowedMethods:
    def __init__(self, paths: Mapping[str, Mapping[str, Any]]) -> None:
        literal: dict[str, set[str]] = {}
        templated: list[tuple[re.Pattern[str], set[str]]] = []
        for template, operations in paths.items():
            methods = {m.upper() for m in operations if m.upper() in HTTP_METHODS}
            if "{" in template:
                templated.append((compile_path(template)[0], methods))
            else:
                literal[template] = methods
        self._literal = literal
        self._templated = templated

    def for_path(self, path: str) -> list[str] | None:
        """The methods `path` takes (HEAD with GET, and OPTIONS), or None for a path the
        document does not describe. A literal path wins over templates, as in the router:
        /v1/campaigns/preview is not /v1/campaigns/{campaign_id}."""
        methods = self._literal.get(path)
        if methods is None:
            matched = [m for pattern, m in self._templated if pattern.match(path)]
            if not matched:
                return None
            methods = set().union(*matched)
        if "GET" in methods:
            methods = methods | {"HEAD"}
        return [m for m in HTTP_METHODS if m in methods | {"OPTIONS"}]
