"""A small element tree over the standard library's HTMLParser, for asserting on rendered pages.

Tests check where captured text lands (inside which element, under which attributes), which a
string search cannot tell.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
HOSTILE_BODY = (
    b"<script>alert(1)</script><img src=x onerror=alert(1)>"
    b'<div hx-get="/api/bins" hx-trigger="load">'
)


class Node:
    """An element of a parsed document: tag, attributes, children (elements or text)."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def texts(self) -> Iterator[tuple[Node, str]]:
        for child in self.children:
            if isinstance(child, Node):
                yield from child.texts()
            else:
                yield self, child

    def text(self) -> str:
        return "".join(text for _, text in self.texts())

    def lineage(self) -> Iterator[Node]:
        node: Node | None = self
        while node is not None:
            yield node
            node = node.parent

    def find(self, **attrs: str) -> Node | None:
        return next(iter(self.find_all(**attrs)), None)

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        """Elements by tag, by one of their classes, and by attribute values (``_`` for ``-``)."""
        return [
            node
            for node in self.walk()
            if (tag is None or node.tag == tag)
            and (cls is None or cls in (node.attrs.get("class") or "").split())
            and all(node.attrs.get(name.replace("_", "-")) == v for name, v in attrs.items())
        ]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        for node in self.current.lineage():
            if node.tag == tag:
                self.current = node.parent or self.root
                return

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: bytes | str) -> Node:
    builder = TreeBuilder()
    builder.feed(html.decode() if isinstance(html, bytes) else html)
    builder.close()
    return builder.root
