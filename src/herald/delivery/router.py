"""Routes: which binds may carry a message, and which of them carries it now.

Routes are tried in configuration order; the first whose every given criterion matches wins
(destination prefix, destination country, sender). Within a route, binds take turns
(round-robin) among those currently healthy, so a bind that goes down is skipped until it
comes back (failover) without reordering the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from herald.config import RouteConfig
from herald.errors import HeraldError
from herald.numbers import country_of


class NoRouteError(HeraldError):
    """No configured route matches a destination and sender."""


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    prefixes: tuple[str, ...]
    countries: frozenset[str]
    senders: frozenset[str]
    binds: tuple[str, ...]

    def matches(self, digits: str, region: str | None, sender: str) -> bool:
        if self.prefixes and not digits.startswith(self.prefixes):
            return False
        if self.countries and region not in self.countries:
            return False
        return not self.senders or sender in self.senders


def _region(digits: str) -> str | None:
    """Country (ISO alpha-2) of a valid E.164 number given as digits."""
    return country_of("+" + digits)


class Router:
    def __init__(self, routes: Sequence[RouteConfig], healthy: Callable[[str], bool]) -> None:
        self._routes = tuple(
            Route(
                name=r.name,
                prefixes=tuple(p.lstrip("+") for p in r.prefixes),
                countries=frozenset(c.upper() for c in r.countries),
                senders=frozenset(r.senders),
                binds=r.binds,
            )
            for r in routes
        )
        self._healthy = healthy
        self._turn: dict[str, int] = {}
        self._uses_country = any(r.countries for r in self._routes)
        # Cache key: enough leading digits to decide every prefix and the country (NANP
        # regions follow the area code). Numbers reaching the router are already valid.
        self._key_len = max([8, *(len(p) for r in self._routes for p in r.prefixes)])
        self._cache: dict[tuple[str, str], Route] = {}

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    def route_for(self, e164: str, sender: str) -> Route:
        digits = e164.lstrip("+")
        key = (digits[: self._key_len], sender)
        route = self._cache.get(key)
        if route is None:
            region = _region(digits) if self._uses_country else None
            for candidate in self._routes:
                if candidate.matches(digits, region, sender):
                    route = candidate
                    break
            else:
                raise NoRouteError(f"no route for destination {e164} from sender {sender!r}")
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = route
        return route

    def pick_bind(self, route: Route) -> str | None:
        """The next healthy bind of the route in turn, or None when all are down."""
        binds = route.binds
        start = self._turn.get(route.name, 0)
        for i in range(len(binds)):
            name = binds[(start + i) % len(binds)]
            if self._healthy(name):
                self._turn[route.name] = (start + i + 1) % len(binds)
                return name
        return None
