"""Server-side inline SVG charts of published tables (no script, no CDN).

:func:`bar_chart` draws a :class:`~trm.statistics.dashboard.Published` table as
an accessible SVG: ``role="img"`` labelled by its ``<title>`` and ``<desc>``, a
``<title>`` on every bar (shown on hover), the rounded value written beside
every bar, and a figure that is not shown drawn as a short hatched, outlined
bar labelled "not shown". The table view under each chart carries the same
figures for screen readers and for reading.
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from trm.statistics.dashboard import Published, Value

#: Bar colours, one per series (contrast ≥ 3:1 on white, WCAG 1.4.11).
PALETTE = ("#1f5f99", "#b8560b", "#2e7d32", "#6a3d9a", "#8c2d2d", "#4d4d4d")
WIDTH = 720
LABEL_WIDTH = 230
VALUE_ROOM = 90
BAR = 18
GAP = 12
NOT_SHOWN_WIDTH = 26


def _series_values(table: Published, row: tuple[str | Value, ...]) -> list[Value]:
    start = table.label_columns
    values = row[start : start + len(table.series)]
    return [v if isinstance(v, int) or v is None else None for v in values]


def _row_label(table: Published, row: tuple[str | Value, ...]) -> str:
    labels = [str(v) for v in row[: table.label_columns]]
    return " → ".join(labels)


def _short(name: str, limit: int = 30) -> str:
    """The label drawn beside a bar (the bar's <title> and the table keep it whole)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _number(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def _hatch(pattern_id: str) -> str:
    return format_html(
        '<pattern id="{}" patternUnits="userSpaceOnUse" width="6" height="6" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#6b6b6b" stroke-width="2"/>'
        "</pattern>",
        pattern_id,
    )


def _open(table: Published, height: int) -> str:
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'width="100%" role="img" aria-labelledby="{}-svg-title {}-svg-desc" '
        'focusable="false"><title id="{}-svg-title">{}</title>'
        '<desc id="{}-svg-desc">{}</desc><defs>{}</defs>',
        WIDTH,
        height,
        table.code,
        table.code,
        table.code,
        table.title,
        table.code,
        table.description,
        mark_safe(_hatch(f"{table.code}-hatch")),  # noqa: S308 - built by format_html
    )


def _legend(table: Published, y: int) -> list[str]:
    parts: list[str] = []
    x = LABEL_WIDTH
    for k, name in enumerate(table.series):
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>'
                '<text x="{}" y="{}" class="chart-text">{}</text>',
                x,
                y,
                PALETTE[k % len(PALETTE)],
                x + 16,
                y + 11,
                name,
            )
        )
        x += 16 + 9 * len(str(name)) + 18
    return parts


def bar_chart(table: Published, *, vertical: bool = False) -> SafeString:
    """Return the SVG markup of a chart of ``table`` (empty table: an empty string).

    Horizontal grouped bars (one group per row, one bar per series), or with
    ``vertical`` columns of the first series (for a trend by year).
    """
    if not table.rows:
        return SafeString("")
    if vertical:
        return _columns(table)
    values = [v for row in table.rows for v in _series_values(table, row)]
    top = max([v for v in values if v is not None] or [1]) or 1
    bar_room = WIDTH - LABEL_WIDTH - VALUE_ROOM
    legend = len(table.series) > 1
    y = 28 if legend else 4
    parts: list[str] = _legend(table, 4) if legend else []
    not_shown = gettext("not shown")
    for row in table.rows:
        name = _row_label(table, row)
        series = _series_values(table, row)
        group_height = BAR * len(series)
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" class="chart-text">{}</text>',
                LABEL_WIDTH - 8,
                y + group_height / 2 + 5,
                _short(name),
            )
        )
        for k, value in enumerate(series):
            what = f"{name}, {table.series[k]}" if legend else name
            if value is None:
                parts.append(
                    format_html(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="url(#{})" '
                        'stroke="#6b6b6b"><title>{}: {}</title></rect>'
                        '<text x="{}" y="{}" class="chart-text chart-muted">{}</text>',
                        LABEL_WIDTH,
                        y + 1,
                        NOT_SHOWN_WIDTH,
                        BAR - 2,
                        f"{table.code}-hatch",
                        what,
                        not_shown,
                        LABEL_WIDTH + NOT_SHOWN_WIDTH + 6,
                        y + BAR - 5,
                        not_shown,
                    )
                )
            else:
                width = round(bar_room * value / top, 1)
                parts.append(
                    format_html(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                        "<title>{}: {}</title></rect>"
                        '<text x="{}" y="{}" class="chart-text">{}</text>',
                        LABEL_WIDTH,
                        y + 1,
                        width,
                        BAR - 2,
                        PALETTE[k % len(PALETTE)],
                        what,
                        _number(value),
                        LABEL_WIDTH + width + 6,
                        y + BAR - 5,
                        _number(value),
                    )
                )
            y += BAR
        y += GAP
    return SafeString(_open(table, y) + "".join(parts) + "</svg>")


def _columns(table: Published) -> SafeString:
    """Vertical columns of the first series, one per row (e.g. per year)."""
    rows = table.rows
    values = [_series_values(table, row)[0] for row in rows]
    top = max([v for v in values if v is not None] or [1]) or 1
    height, base_line, left = 300, 250, 10
    slot = (WIDTH - 2 * left) / len(rows)
    width = max(min(slot * 0.7, 60), 4)
    not_shown = gettext("not shown")
    parts = [
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#6b6b6b"/>',
            left,
            base_line,
            WIDTH - left,
            base_line,
        )
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        name = _row_label(table, row)
        x = round(left + slot * i + (slot - width) / 2, 1)
        middle = round(x + width / 2, 1)
        column_height: float
        if value is None:
            column_height = 24
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="url(#{})" '
                    'stroke="#6b6b6b"><title>{}: {}</title></rect>',
                    x,
                    base_line - column_height,
                    round(width, 1),
                    column_height,
                    f"{table.code}-hatch",
                    name,
                    not_shown,
                )
            )
            shown = not_shown
        else:
            column_height = round(200 * value / top, 1)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {}</title></rect>",
                    x,
                    round(base_line - column_height, 1),
                    round(width, 1),
                    column_height,
                    PALETTE[0],
                    name,
                    _number(value),
                )
            )
            shown = _number(value)
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" class="chart-text '
                'chart-small">{}</text>'
                '<text x="{}" y="{}" text-anchor="middle" class="chart-text '
                'chart-small">{}</text>',
                middle,
                round(base_line - column_height - 6, 1),
                shown,
                middle,
                base_line + 18,
                name,
            )
        )
    return SafeString(_open(table, height) + "".join(parts) + "</svg>")
