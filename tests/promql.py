"""The metrics a PromQL expression reads, with the label matchers of each selector.

Enough of PromQL for the expressions this project writes (selectors, functions,
aggregations with by/without, vector matching with on/ignoring/group_left/group_right,
ranges and subqueries, Grafana's $__ variables inside ranges). Syntax itself is checked
by promtool; this only names what an expression reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>(?:\d+(?:ms|[smhdwy]))+|0x[0-9a-fA-F]+|\d*\.?\d+(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<range>\[[^\]]*\])
  | (?P<punct>=~|!~|!=|==|>=|<=|[-+*/%^(){},=<>@])
    """,
    re.VERBOSE,
)
# Words followed by a parenthesised list of label names.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_OPERATORS = {"and", "or", "unless", "bool", "offset", "atan2", "start", "end"}
_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}
_MATCHER = re.compile(
    r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*,?"""
)


class PromQLError(ValueError):
    pass


@dataclass(frozen=True)
class Selector:
    metric: str
    # label -> (operator, value)
    matchers: dict[str, tuple[str, str]]


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise PromQLError(f"cannot read {expr[position : position + 20]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def _matchers(tokens: list[tuple[str, str]], start: int) -> tuple[dict[str, tuple[str, str]], int]:
    """The matchers of a `{...}` that opens at tokens[start]; returns them and the index
    after the closing brace."""
    end = start
    while tokens[end] != ("punct", "}"):
        end += 1
        if end == len(tokens):
            raise PromQLError("a '{' is never closed")
    text = "".join(value for _, value in tokens[start + 1 : end])
    matchers: dict[str, tuple[str, str]] = {}
    position = 0
    while position < len(text):
        match = _MATCHER.match(text, position)
        if match is None:
            raise PromQLError(f"cannot read the matchers {text!r}")
        label, operator, quoted = match.groups()
        matchers[label] = (operator, quoted[1:-1])
        position = match.end()
    return matchers, end + 1


def selectors(expr: str) -> list[Selector]:
    """Every metric selector of `expr`, in order."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind == "name" and value in _LABEL_LISTS and following == ("punct", "("):
            index += 2
            while tokens[index] != ("punct", ")"):
                index += 1
            index += 1
            continue
        if (
            kind == "name"
            and following != ("punct", "(")
            and value not in _AGGREGATIONS | _OPERATORS
        ):
            if following == ("punct", "{"):
                matchers, index = _matchers(tokens, index + 1)
            else:
                matchers, index = {}, index + 1
            found.append(Selector(value, matchers))
            continue
        if (kind, value) == ("punct", "{"):
            raise PromQLError(f"a selector without a metric name in {expr!r}")
        index += 1
    return found


def metric_names(expr: str) -> set[str]:
    return {selector.metric for selector in selectors(expr)}
