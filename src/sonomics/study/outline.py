"""What a stage contributes to the report: a section of tables and figures, by file name."""

from __future__ import annotations

from sonomics.report.html import Item, Section

__all__ = ["Item", "Section", "figure", "table"]


def table(name: str, title: str) -> Item:
    return Item("table", name, title)


def figure(name: str, title: str) -> Item:
    return Item("figure", name, title)
