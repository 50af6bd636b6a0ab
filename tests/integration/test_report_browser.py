"""report.html in a real browser: headless Chromium renders the page offline once, and the chart's bars are
on the screenshot in both series' colours. Skipped (with the reason) where no Chromium is installed
(Debian: `apt-get install chromium`)."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from pr_auditor.cli import main
from pr_auditor.core.model import Window, iso

from report_records import PERIOD, period_records, write_jsonl

pytestmark = pytest.mark.integration
BROWSER = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
)


def _blend(hex_colour: str, opacity: float) -> tuple[int, int, int]:
    """The colour a fill of ``hex_colour`` at ``opacity`` shows on white."""
    rgb = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(round(c * opacity + 255 * (1 - opacity)) for c in rgb)  # type: ignore[return-value]


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


@pytest.mark.skipif(BROWSER is None, reason="no headless browser installed (Debian: apt-get install chromium)")
def test_the_page_renders_offline_in_a_browser_with_both_series_of_the_chart_visible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow reads the screenshot (dev extra)")
    from pr_auditor.evidence.report.html import CHART_STYLE

    period = Window(PERIOD.since, PERIOD.since + timedelta(days=28))
    write_jsonl(tmp_path / "in.jsonl", period_records(600, period=period))
    out = tmp_path / "pack"
    argv = ["report", "--since", iso(period.since), "--until", iso(period.until), "--input", str(tmp_path / "in.jsonl")]
    assert main([*argv, "--out", str(out)], out=io.StringIO()) == 0, capsys.readouterr().err

    shot = tmp_path / "shot.png"
    done = subprocess.run(  # noqa: S603 - a fixed browser binary on a file we just wrote
        [
            str(BROWSER),
            "--headless",
            "--no-sandbox",  # tests run as root here; the page is our own file
            "--disable-gpu",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: any network fetch would fail
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1400",
            f"--screenshot={shot}",
            (out / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]

    image = image_module.open(shot).convert("RGB")
    data = image.tobytes()
    pixels = [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]
    changes, exceptions = (_blend(colour, float(CHART_STYLE.opacity)) for colour in CHART_STYLE.colors)
    change_pixels = [i for i, p in enumerate(pixels) if _near(p, changes)]
    exception_pixels = [i for i, p in enumerate(pixels) if _near(p, exceptions)]
    assert len(change_pixels) > 5000, "the changes bars are not visible"
    assert len(exception_pixels) > 500, "the exceptions bars are not visible"
    # the bars sit together in one chart region, above the fold
    rows = sorted({i // image.width for i in change_pixels + exception_pixels})
    assert rows[-1] - rows[0] < 400
    assert rows[-1] < image.height
