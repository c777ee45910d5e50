"""YAML as the pipeline reads it: no aliases, a bounded nesting depth, and no repeated keys.

A pipeline file (or a ``--set`` value) is first scanned event by event, which expands nothing and stops at the
first alias or at a level deeper than :data:`MAX_DEPTH`, so neither a "billion laughs" file nor a value nested
100,000 deep costs more than a moment. Only then is it loaded, by a loader that refuses a key given twice in one
mapping (PyYAML would keep the last one silently), naming both lines.
"""

from __future__ import annotations

from typing import Any

import yaml

from pyserini_qpeft.errors import InputError, short_repr

MAX_DEPTH = 50  # nesting levels of lists and mappings; a pipeline config needs three
TOO_DEEP = f"lists and mappings nested more than {MAX_DEPTH} deep; a pipeline config needs a few levels"
_CLoader = getattr(yaml, "CSafeLoader", None)  # libyaml: scans deep nesting in C, at once
_Base = _CLoader or yaml.SafeLoader


class DuplicateKeyError(yaml.YAMLError):
    """A mapping that gives one key twice."""

    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark):
        super().__init__(f"key {key!r} is given twice")
        self.key, self.first, self.second = key, first, second


class NoDuplicatesLoader(_Base):
    """PyYAML's safe loader, refusing a key repeated in one mapping (:class:`DuplicateKeyError`)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the constructor says so
                continue
            if first is not key_node.start_mark:
                raise DuplicateKeyError(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _line(mark: yaml.Mark | None, where: str) -> str:
    return f":{mark.line + 1}" if mark is not None and where != "--set" else ""


def check_events(text: str, where: str) -> None:
    """Refuse YAML aliases (``*name``: a pipeline has no use for them, and nested ones expand exponentially) and
    nesting deeper than :data:`MAX_DEPTH`, scanning the events (linear in the text, nothing expanded)."""
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent):
            raise InputError(
                f"{where}{_line(event.start_mark, where)}: YAML alias *{short_repr(event.anchor)[1:-1]} is not "
                "allowed in a pipeline config; write the value out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(f"{where}{_line(event.start_mark, where)}: {TOO_DEEP}")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml(text: str, where: str) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML document and its node tree (for line numbers), checked by :func:`check_events` and
    refusing repeated keys; any YAML error is an :class:`InputError` starting with ``where`` (and the line)."""
    try:
        check_events(text, where)
        loader = NoDuplicatesLoader(text)
        try:
            root = loader.get_single_node()
            return (loader.construct_document(root) if root is not None else None), root
        finally:
            loader.dispose()
    except DuplicateKeyError as exc:
        lines = f" (lines {exc.first.line + 1} and {exc.second.line + 1})" if where != "--set" else ""
        raise InputError(
            f"{where}{_line(exc.second, where)}: key {short_repr(exc.key)} is given twice{lines}; give each key once"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "nesting depth" in problem:  # libyaml's own limit (deep [[[...]]] fails while scanning, before any event)
            raise InputError(f"{where}{_line(mark, where)}: {TOO_DEEP}") from None
        raise InputError(f"{where}{_line(mark, where)}: not valid YAML ({problem})") from None
