"""Draw the integration's brand icons (icon.png 256x256, icon@2x.png 512x512).

A white house outline with a heartbeat line on a rounded teal square. Drawn at
4x and downsampled for smooth edges. Run from the repository root:
    .venv/bin/python scripts/make_brand_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BRAND_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "homeiq_device_intel" / "brand"
SUPERSAMPLE = 4
TOP = (32, 178, 170)
BOTTOM = (18, 104, 160)
WHITE = (255, 255, 255, 255)


def draw_icon(size: int) -> Image.Image:
    """Return the icon at size x size pixels, transparent outside the rounded square."""
    big = size * SUPERSAMPLE
    gradient = Image.new("RGBA", (big, big))
    pixels = gradient.load()
    assert pixels is not None
    for y in range(big):
        t = y / (big - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM, strict=True))
        for x in range(big):
            pixels[x, y] = (*colour, 255)
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=255)
    icon = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    icon.paste(gradient, (0, 0), mask)

    draw = ImageDraw.Draw(icon)
    u = big / 100  # drawing units: the square is 100 x 100
    stroke = round(6 * u)
    house = [(20 * u, 50 * u), (50 * u, 22 * u), (80 * u, 50 * u)]
    draw.line(house, fill=WHITE, width=stroke, joint="curve")
    walls = [(28 * u, 46 * u), (28 * u, 80 * u), (72 * u, 80 * u), (72 * u, 46 * u)]
    draw.line(walls, fill=WHITE, width=stroke, joint="curve")
    pulse = [
        (32 * u, 62 * u),
        (41 * u, 62 * u),
        (46 * u, 52 * u),
        (53 * u, 72 * u),
        (58 * u, 62 * u),
        (68 * u, 62 * u),
    ]
    draw.line(pulse, fill=WHITE, width=round(4.5 * u), joint="curve")
    for cx, cy in (house[0], house[-1], walls[1], walls[2]):  # round the line ends and wall corners
        r = stroke / 2
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=WHITE)
    return icon.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    """Write both icon sizes into the integration's brand folder."""
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    draw_icon(256).save(BRAND_DIR / "icon.png", optimize=True)
    draw_icon(512).save(BRAND_DIR / "icon@2x.png", optimize=True)


if __name__ == "__main__":
    main()
