"""Tables of many rows as fixed-width text, in time linear in the rows.

Rich lays out every cell of a ``Table`` (measured at about 1-2 ms a row): right for a screenful,
10-20 s for a store of 10,000 runs. From :data:`PLAIN_FROM` rows on, commands print this plain
layout instead: the same columns and cells, every row, nothing cut or wrapped, no colour.
"""

from __future__ import annotations

PLAIN_FROM = 200


def plain_table(headers: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    """``headers`` and ``rows`` (cells as text) aligned in columns two spaces apart, a dashed rule
    under the header; the columns whose index is in ``right`` are right-aligned (numbers)."""
    widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, header in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(width) if i in right else cell.ljust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(headers), "  ".join("-" * width for width in widths), *map(line, rows)]) + "\n"
