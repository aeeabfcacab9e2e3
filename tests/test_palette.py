"""The chart palette: every colour readable on both themes, neighbours distinguishable for normal vision and the
three colour-vision deficiencies, and each chart's series distinct.

Colour science: sRGB to CIELAB (D65) and the CIE76 distance; WCAG 2.1 relative luminance and contrast; the
deficiencies simulated with Machado, Oliveira and Fernandes (2009) at full severity, on linear RGB.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from pathlib import Path

import pytest

from generator.site.charts import OTHER_COLOR, PALETTE, colours, distinct

ROOT = Path(__file__).resolve().parent.parent
SIMULATIONS = {
    "normal": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.01182, 0.04294, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.3039)),
}  # fmt: skip


def _linear(hex_colour: str) -> tuple[float, ...]:
    channels = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return tuple(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)


def luminance(hex_colour: str) -> float:
    r, g, b = _linear(hex_colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def lab(hex_colour: str, vision: str = "normal") -> tuple[float, float, float]:
    rgb = _linear(hex_colour)
    r, g, b = (min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb, strict=True)))) for row in SIMULATIONS[vision])
    xyz = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
           (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)  # fmt: skip
    fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def distance(a: str, b: str, vision: str = "normal") -> float:
    return math.dist(lab(a, vision), lab(b, vision))


def backgrounds() -> dict[str, str]:
    """The page and card backgrounds of both themes, from the stylesheet."""
    css = (ROOT / "assets/style.css").read_text()
    light, _, dark = css.partition("prefers-color-scheme: dark")
    found = {}
    for theme, text in (("light", light), ("dark", dark)):
        for var in ("bg", "card"):
            found[f"{theme} {var}"] = re.search(rf"--{var}: (#[0-9a-f]{{6}})", text).group(1)  # type: ignore[union-attr]
    return found


def test_the_science_agrees_with_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert lab("#ffffff") == pytest.approx((100, 0, 0), abs=0.02)
    assert distance("#ff0000", "#00ff00", "deuteranopia") < 0.2 * distance("#ff0000", "#00ff00")  # red-green


@pytest.mark.parametrize("where", ["light bg", "light card", "dark bg", "dark card"])
def test_every_colour_stands_out_from_both_themes(where: str) -> None:
    background = backgrounds()[where]
    assert {c: round(contrast(c, background), 2) for c in PALETTE if contrast(c, background) < 3} == {}  # WCAG 1.4.11


@pytest.mark.parametrize("vision", list(SIMULATIONS))
def test_neighbours_stay_distinguishable(vision: str) -> None:
    """A chart's series take the palette in order: each colour is far from the next (and the last from the first,
    and from the grey of "other") for every kind of vision; any two are apart for normal vision."""
    ring = [*PALETTE, PALETTE[0]]
    least = min(distance(a, b, vision) for a, b in itertools.pairwise(ring))
    assert least >= (40 if vision == "normal" else 25), least
    assert min(distance(c, OTHER_COLOR, vision) for c in PALETTE[:3]) >= 15
    if vision == "normal":
        assert min(distance(a, b) for a, b in itertools.combinations(PALETTE, 2)) >= 25


def test_the_script_falls_back_to_the_same_palette() -> None:
    script = (ROOT / "assets/app.js").read_text()
    found = re.search(r"var PALETTE = \[([^\]]*)\]", script)
    assert found and tuple(re.findall(r'"(#[0-9a-f]{6})"', found.group(1))) == PALETTE


def test_each_chart_draws_distinct_colours_and_its_top_series_take_the_palette_in_order() -> None:
    rng = random.Random(7)
    ranking = [f"person-{i:02d}" for i in range(40)]
    charts = []
    for _ in range(6):  # six windows' top ten: mostly the same people, in orders of their own
        top = ranking[:14]
        rng.shuffle(top)
        charts.append(sorted(top[:10], key=ranking.index))
    given = colours(charts)
    assert [given[name] for name in charts[0]] == list(PALETTE)  # the first (widest) chart: the palette in order
    assert colours(charts) == given  # the same names, the same colours
    kept = 0
    for chart in charts:  # fourteen people in ten colours cannot all keep theirs; a chart's ten still differ
        drawn = distinct(given, chart)
        assert len(set(drawn.values())) == len(chart), chart
        kept += sum(drawn[name] == given[name] for name in chart)
    assert kept >= 0.6 * 10 * len(charts)  # and most keep their colour on every chart


def test_matrix_shading_is_continuous_on_a_log_scale() -> None:
    from decimal import Decimal

    from generator.site.render import shading

    shade = shading(Decimal("0.05"), Decimal("500"))
    assert [shade(Decimal(v)) for v in ("0", "0.05", "500", "900")] == ["none", "1", "9", "9"]
    assert int(shade(Decimal("21.23"))) - int(shade(Decimal("2.20"))) >= 2  # ten times the cost, a shade apart
    steps = [int(shade(Decimal(str(10 ** (e / 4))))) for e in range(-5, 11)]
    assert steps == sorted(steps) and len(set(steps)) == 9  # every shade used, never out of order
    assert shading(Decimal(3), Decimal(3))(Decimal(3)) == "5"  # one cost: the middle shade
