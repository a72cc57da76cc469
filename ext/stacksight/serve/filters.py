"""The profile filter shared by the list, the facets, merging and metrics.

A filter is what the Search Profiles page lets a user pick: values of the
facets (Env, Service, Version, Host, Runtime; several values of one facet
mean "any of"), arbitrary ``key:value`` tags, an explicit set of profile ids
and a time range.  It is read from a URL query string and turned into an SQL
WHERE clause with bound parameters only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Facet name in the URL/UI → column in the profiles table.
INT64_LIMIT = 2 ** 63
INT64_SECONDS = INT64_LIMIT / 1e9  # times are int64 nanoseconds (years 1678-2262)

FACET_COLUMNS = {
    "env": "env",
    "service": "service",
    "version": "version",
    "host": "host",
    "runtime": "runtime",
}


class FilterError(ValueError):
    pass


def _parse_time_ns(text: str) -> int:
    """Accept Unix seconds (possibly fractional) or RFC 3339 in the URL."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or abs(seconds) >= INT64_SECONDS:
            raise FilterError(f"bad time {text!r}: Unix seconds must be finite and within int64 nanoseconds")
        return int(seconds * 1_000_000_000)
    from .event import EventError, parse_rfc3339_ns
    try:
        return parse_rfc3339_ns(text)
    except EventError as error:
        raise FilterError(f"bad time {text!r}: use Unix seconds or RFC 3339") from error


@dataclass
class ProfileFilter:
    facets: dict[str, list[str]] = field(default_factory=dict)
    tags: list[tuple[str, str]] = field(default_factory=list)
    ids: list[int] | None = None
    from_ns: int | None = None
    to_ns: int | None = None

    @classmethod
    def from_query(cls, query: dict[str, list[str]]) -> "ProfileFilter":
        result = cls()
        for facet in FACET_COLUMNS:
            if facet in query:
                result.facets[facet] = list(query[facet])
        for tag in query.get("tag", []):
            key, sep, value = tag.partition(":")
            if not sep:
                raise FilterError(f"tag filter {tag!r} must be key:value")
            result.tags.append((key, value))
        if "ids" in query:
            try:
                result.ids = [int(item) for raw in query["ids"] for item in raw.split(",") if item]
            except ValueError as error:
                raise FilterError("ids must be comma-separated integers") from error
            if any(not 0 <= profile_id < INT64_LIMIT for profile_id in result.ids):
                raise FilterError("ids must be profile ids (0 to 2^63-1)")
        if query.get("from", [""])[0]:
            result.from_ns = _parse_time_ns(query["from"][0])
        if query.get("to", [""])[0]:
            result.to_ns = _parse_time_ns(query["to"][0])
        return result

    def without_facet(self, facet: str) -> "ProfileFilter":
        facets = {k: v for k, v in self.facets.items() if k != facet}
        return ProfileFilter(facets, list(self.tags), self.ids, self.from_ns, self.to_ns)

    def sql_where(self) -> tuple[str, list]:
        clauses: list[str] = []
        params: list = []
        for facet, values in self.facets.items():
            column = FACET_COLUMNS[facet]
            clauses.append(f"p.{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
        for key, value in self.tags:
            clauses.append("EXISTS (SELECT 1 FROM profile_tags t WHERE t.profile_id = p.id"
                           " AND t.key = ? AND t.value = ?)")
            params.extend([key, value])
        if self.ids is not None:
            if not self.ids:
                clauses.append("0")
            else:
                clauses.append(f"p.id IN ({','.join('?' * len(self.ids))})")
                params.extend(self.ids)
        # A profile matches a time range when the periods overlap.
        if self.from_ns is not None:
            clauses.append("p.end_ns >= ?")
            params.append(self.from_ns)
        if self.to_ns is not None:
            clauses.append("p.start_ns <= ?")
            params.append(self.to_ns)
        return (" AND ".join(clauses) or "1"), params
