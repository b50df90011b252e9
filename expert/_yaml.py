"""Safe YAML loading that keeps line numbers and refuses duplicate keys.

A YAML loader that silently keeps the last of two equal keys loses a party's
data, so :func:`load_yaml` reports every duplicate key as an error. Only the
safe subset of YAML is accepted (no object tags). The result is the plain
Python value plus a map from key paths to 1-based line numbers, which the case
validator uses to point at ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

__all__ = ["LocatedYaml", "load_yaml", "format_path"]

Path_ = tuple  # a key path: tuple of str (mapping keys) and int (list indices)


@dataclass(frozen=True)
class LocatedYaml:
    """A parsed YAML document with the line of every key path.

    Attributes
    ----------
    data : object
        The document as plain Python values (dict, list, str, int, float, bool, date, None).
    lines : dict
        Key path (tuple of keys and indices) -> 1-based line of the value.
    problems : list of str
        Problems found while loading (duplicate keys, forbidden tags), each
        already formatted as ``file:line: path: message``.
    key_lines : dict
        Key path -> 1-based line of the key itself (differs from :attr:`lines`
        when the value is a block on the following lines).
    """

    data: object
    lines: dict
    problems: list
    key_lines: dict = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """Line of ``path`` or of its nearest ancestor that has one (1 for the root)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def format_path(path: Path_) -> str:
    """``('a', 'b', 2, 'c')`` -> ``'a.b[2].c'``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(document)"


def load_yaml(text: str, source: str, max_nodes: int = 200_000) -> LocatedYaml:
    """Parse ``text`` safely, recording lines and refusing duplicate keys.

    Parameters
    ----------
    text : str
        The YAML document.
    source : str
        The file name used in messages.
    max_nodes : int
        Refuse documents that expand (through aliases) to more nodes than this.

    Raises
    ------
    yaml.YAMLError
        On a syntax error; the caller turns it into a located message.
    """
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:
        # raised before any parsing (e.g. a NUL byte) with a character offset but no line: give it a mark
        position = max(0, min(int(error.position), len(text)))
        line = text.count("\n", 0, position)
        column = position - (text.rfind("\n", 0, position) + 1)
        raise yaml.MarkedYAMLError(problem=f"unacceptable character #x{error.character:04x} at column {column + 1}: "
                                   f"{error.reason}",
                                   problem_mark=yaml.Mark(source, position, line, column, None, None)) from None
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    lines: dict = {}
    key_lines: dict = {}
    problems: list[str] = []
    budget = [max_nodes]
    constructor = yaml.SafeLoader("")

    def build(node, path):
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooLarge()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAP_TAG, _SEQ_TAG):
            # tags on collections (e.g. !!python/object/apply:os.system [...]) are refused like scalar tags
            problems.append(f"{source}:{node.start_mark.line + 1}: {format_path(path)}: "
                            f"expected a plain value, found the tag {node.tag!r}")
            return None
        if isinstance(node, yaml.MappingNode):
            result = {}
            seen: dict = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    problems.append(
                        f"{source}:{key_node.start_mark.line + 1}: {format_path(path)}: "
                        f"expected a plain key, found a {key_node.id}"
                    )
                    continue
                key = _scalar(constructor, key_node, source, path, problems)
                if not isinstance(key, str):
                    # keys are names: keep them as written (`no:` is not False, `007:` is not 7)
                    key = str(key_node.value)
                if key in seen:
                    problems.append(
                        f"{source}:{key_node.start_mark.line + 1}: {format_path(path + (key,))}: "
                        f"expected each key once, found it again (first at line {seen[key]})"
                    )
                    continue
                seen[key] = key_node.start_mark.line + 1
                key_lines[path + (key,)] = key_node.start_mark.line + 1
                lines[path + (key,)] = value_node.start_mark.line + 1
                result[key] = build(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(child, path + (index,)) for index, child in enumerate(node.value)]
        return _scalar(constructor, node, source, path, problems)

    if root is None:
        return LocatedYaml(None, {(): 1}, problems, key_lines)
    try:
        data = build(root, ())
    except _TooLarge:
        problems.append(f"{source}:1: (document): expected at most {max_nodes} nodes, found more (alias expansion?)")
        data = None
    return LocatedYaml(data, lines, problems, key_lines)


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _TooLarge(Exception):
    pass


def _scalar(constructor, node, source, path, problems):
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as error:
        problems.append(
            f"{source}:{node.start_mark.line + 1}: {format_path(path)}: "
            f"expected a plain value, found the tag {node.tag!r} ({error.problem})"
        )
        return None
    except (ValueError, OverflowError, TypeError) as error:
        # a plain scalar the resolver took for a typed value that does not exist (date: 2025-02-30)
        kind = str(node.tag).rsplit(":", 1)[-1]
        problems.append(
            f"{source}:{node.start_mark.line + 1}: {format_path(path)}: "
            f"expected a valid {kind}, found {node.value!r} ({error})"
        )
        return None
