"""One self-contained HTML page: figures embedded as base64 PNG data URIs, tables, code blocks.

Everything user-provided (names, hyperparameters, manifest entries) is escaped; the page loads
nothing from elsewhere, so it can be mailed or archived as one file. Each figure also links the
PNG written beside the page.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .88em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; max-width: 900px; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .82em; }
.note { color: #a15c00; } .scroll { overflow-x: auto; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, digits: int = 3,
          caption: str = "") -> str:
    """An HTML table of dict rows; numbers right-aligned, text left-aligned."""
    if not rows:
        return "<p><em>nothing to show</em></p>"
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    head = "".join(f'<th class="text">{esc(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            cls = "" if isinstance(value, (int, float)) and not isinstance(value, bool) else ' class="text"'
            cells.append(f"<td{cls}>{esc(fmt(value, digits))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def figure(path: Path, caption: str) -> str:
    """An embedded PNG (data URI) with a caption and a link to the file beside the page."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    name = Path(path).name
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(name)}" data-file="{esc(name)}">'
            f'<figcaption>{esc(caption)} <a href="{esc(name)}">{esc(name)}</a></figcaption></figure>')


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def paragraph(text: str, note: bool = False) -> str:
    return f'<p{" class=note" if note else ""}>{esc(text)}</p>'


def section(title: str, parts: Iterable[str], anchor: str = "") -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def page(title: str, sections: Iterable[str], intro: str = "") -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1>{intro}{''.join(sections)}</body></html>\n")
