"""Charts of the dashboard as inline SVG, drawn on the server: no JavaScript, nothing to
download, and every mark carries its value and definition in a <title> (the browser shows
it on hover)."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44
PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#64748b"]


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    values: list  # numbers or None (no value: no mark)
    definition: str
    color: str = ""


def _number(value) -> float | None:
    return None if value is None else float(value)


def _format(value, unit: str) -> str:
    if value is None:
        return "no value"
    if unit == "%":
        return f"{Decimal(value):.2f}%"
    if unit == "money":
        return f"{Decimal(value):,.2f}"
    return f"{int(value):,}"


def _tick(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.2f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


# Axis labels are 11px; a character of the system sans-serif is at most about 7px wide.
LABEL_CHAR_PX = 7
LABEL_GAP_PX = 12


def label_step(labels: list[str], plot_width: float) -> int:
    """Label every step-th period, so that labels never overlap: over 150 weeks
    (`2025-W14`) a label every few months, over a year of months every month or two."""
    if not labels:
        return 1
    label_px = max(len(label) for label in labels) * LABEL_CHAR_PX + LABEL_GAP_PX
    fitting = max(1, int(plot_width // label_px))
    return max(1, -(-len(labels) // fitting))


def chart_svg(
    *,
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[Series],
    kind: str = "line",
    unit: str = "",
    y_max: float | None = None,
) -> SafeString:
    """A line chart, grouped bars ("bars") or stacked bars ("stacked") of the series over
    the period labels. The <svg> carries data-marks, the number of marks drawn."""
    series = [
        Series(s.key, s.label, s.values, s.definition, s.color or PALETTE[i % len(PALETTE)])
        for i, s in enumerate(series)
    ]
    count = max(len(labels), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if kind == "stacked":
        totals = [sum(_number(s.values[i]) or 0 for s in series) for i in range(len(labels))]
        high, low = max(totals, default=0), 0.0
    else:
        numbers = [_number(v) for s in series for v in s.values if v is not None]
        high, low = max(numbers, default=0), min(0.0, min(numbers, default=0))
    high = y_max if y_max is not None else _nice_max(high)
    low = -_nice_max(-low) if low < 0 else 0.0
    span = (high - low) or 1.0

    def y(value: float) -> float:
        return TOP + plot_h - (value - low) / span * plot_h

    def x(index: int) -> float:
        return LEFT + (index + 0.5) * plot_w / count

    parts = [
        f'<svg class="kpi-chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"'
    ]
    body = []
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        value = low + span * fraction
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#e5e7eb"/><text x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end" font-size="11" fill="#6b7280">'
            f"{escape(_tick(value, unit))}</text>"
        )
    if low < 0:
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
            'stroke="#9ca3af"/>'
        )
    step = label_step(labels, plot_w)
    for index, label in enumerate(labels):
        if index % step == 0:
            body.append(
                f'<text x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11" fill="#374151">{escape(label)}</text>'
            )

    marks = 0

    def mark_title(s: Series, index: int, value) -> str:
        return (
            f"<title>{escape(s.label)}, {escape(labels[index])}: {escape(_format(value, unit))}"
            f" — {escape(s.definition)}</title>"
        )

    if kind == "line":
        for s in series:
            points = [(x(i), y(_number(v))) for i, v in enumerate(s.values) if v is not None]
            if len(points) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                body.append(
                    f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"/>'
                )
            for i, v in enumerate(s.values):
                if v is None:
                    continue
                marks += 1
                body.append(
                    f'<circle class="mark" data-series="{escape(s.key)}" cx="{x(i):.1f}" '
                    f'cy="{y(_number(v)):.1f}" r="4" fill="{s.color}">{mark_title(s, i, v)}'
                    "</circle>"
                )
    else:
        slot = plot_w / count * 0.8
        for i in range(len(labels)):
            base = 0.0
            for n, s in enumerate(series):
                v = s.values[i]
                if v is None:
                    continue
                value = _number(v)
                if kind == "stacked":
                    top, bottom, left, width = base + value, base, x(i) - slot / 2, slot
                    base += value
                else:
                    width = slot / len(series)
                    top, bottom = max(value, 0), min(value, 0)
                    left = x(i) - slot / 2 + n * width
                height = max(y(bottom) - y(top), 0.5)
                marks += 1
                body.append(
                    f'<rect class="mark" data-series="{escape(s.key)}" x="{left:.1f}" '
                    f'y="{y(top):.1f}" width="{max(width - 1, 1):.1f}" height="{height:.1f}" '
                    f'fill="{s.color}">{mark_title(s, i, v)}</rect>'
                )
    parts.append(f' data-marks="{marks}">')
    parts.append(f"<title>{escape(title)}</title>")
    parts.extend(body)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def legend(series: list[Series]) -> list[dict]:
    return [
        {
            "label": s.label,
            "definition": s.definition,
            "color": s.color or PALETTE[i % len(PALETTE)],
        }
        for i, s in enumerate(series)
    ]


def heat_color(rate) -> str:
    """A blue whose depth is the rate (0 to 100); grey without a rate."""
    if rate is None:
        return "#f3f4f6"
    alpha = 0.08 + 0.92 * min(max(float(rate), 0), 100) / 100
    return f"rgba(37, 99, 235, {alpha:.2f})"
