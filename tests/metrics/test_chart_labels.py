"""The dashboard's axis labels stay readable over 100+ periods (issue 13): they never
overlap, whatever the number of periods."""

import re
from datetime import date, timedelta

import pytest

from metrics.charts import BOTTOM, HEIGHT, LABEL_CHAR_PX, Series, chart_svg


def week_labels(count: int) -> list[str]:
    start = date(2024, 1, 1)
    labels = []
    for index in range(count):
        year, week, _ = (start + timedelta(weeks=index)).isocalendar()
        labels.append(f"{year}-W{week:02d}")
    return labels


def axis_labels(svg: str) -> list[tuple[float, str]]:
    pattern = rf'<text x="([0-9.]+)" y="{HEIGHT - BOTTOM + 16}"[^>]*>([^<]+)</text>'
    return [(float(x), text) for x, text in re.findall(pattern, svg)]


@pytest.mark.parametrize("count", [12, 52, 104, 156, 300])
def test_week_labels_never_overlap(count):
    labels = week_labels(count)
    svg = chart_svg(
        chart_id="c",
        title="Active members",
        labels=labels,
        series=[Series("active", "Active", list(range(count)), "Members active")],
    )
    drawn = axis_labels(svg)
    assert len(drawn) >= 4, "an axis with hardly any labels is unreadable too"
    width = len("2024-W01") * LABEL_CHAR_PX
    gaps = [b[0] - a[0] for a, b in zip(drawn, drawn[1:], strict=False)]
    assert min(gaps) > width, (count, min(gaps))
    assert drawn[0][1] == labels[0]


def test_day_labels_over_a_quarter_never_overlap():
    labels = [(date(2025, 1, 1) + timedelta(days=i)).isoformat() for i in range(120)]
    svg = chart_svg(
        chart_id="d", title="t", labels=labels, series=[Series("a", "A", [1] * 120, "")]
    )
    drawn = axis_labels(svg)
    gaps = [b[0] - a[0] for a, b in zip(drawn, drawn[1:], strict=False)]
    assert min(gaps) > len("2025-01-01") * LABEL_CHAR_PX
