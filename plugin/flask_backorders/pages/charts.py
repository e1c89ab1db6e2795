"""Server-side SVG charts for the dashboard (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def demand_chart(
    days: Sequence[str],
    reservations: Sequence[int],
    queued: Sequence[int],
    *,
    width: int = 640,
    height: int = 220,
    title: str = "Demand",
) -> str:
    """Bars: new reserved units per day; line: units queued at the end of each day."""
    pad_l, pad_r, pad_t, pad_b = 36, 12, 24, 28
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    top = max([1, *reservations, *queued])
    n = max(len(days), 1)
    step = inner_w / n
    bar_w = max(step * 0.6, 1)

    def y(value: float) -> float:
        return pad_t + inner_h - inner_h * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}: new reservations per day and queue depth" class="bo-chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - pad_r}" y2="{pad_t + inner_h}" '
        'stroke="#98a2b3"/>',
        f'<text x="4" y="{pad_t + 4}" font-size="11" fill="#475467">{top}</text>',
        f'<text x="4" y="{pad_t + inner_h}" font-size="11" fill="#475467">0</text>',
    ]
    for i, value in enumerate(reservations):
        x = pad_l + i * step + (step - bar_w) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w:.1f}" '
            f'height="{pad_t + inner_h - y(value):.1f}" fill="#3451d1">'
            f"<title>{escape(days[i])}: {value} new unit(s)</title></rect>"
        )
    points = " ".join(f"{pad_l + i * step + step / 2:.1f},{y(v):.1f}" for i, v in enumerate(queued))
    if points:
        parts.append(f'<polyline points="{points}" fill="none" stroke="#f79009" stroke-width="2"/>')
    for i in (0, len(days) - 1) if days else ():
        parts.append(
            f'<text x="{pad_l + i * step + step / 2:.1f}" y="{height - 8}" font-size="11" '
            f'text-anchor="middle" fill="#475467">{escape(days[i][5:])}</text>'
        )
    parts.append(
        f'<g font-size="11" fill="#475467"><rect x="{width - 210}" y="6" width="10" height="10" '
        f'fill="#3451d1"/><text x="{width - 196}" y="15">new units</text>'
        f'<rect x="{width - 120}" y="10" width="14" height="3" fill="#f79009"/>'
        f'<text x="{width - 102}" y="15">units queued</text></g>'
    )
    parts.append("</svg>")
    return "".join(parts)
