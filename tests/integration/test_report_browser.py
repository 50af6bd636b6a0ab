"""report.html in a real browser, at 1280 px: headless Chromium renders the page of a four-week period read
from the evidence archive (moto's S3, the real writer), offline. The page fits the width (no sideways scroll
even with hostile long titles and 180-odd exception rows), every change is a link, the policy in force and
the chain head to keep are on it, and the chart's bars are on the screenshot. Skipped (with the reason) where
no Chromium is installed (Debian: `apt-get install chromium`; CI installs it)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pr_auditor.audit.ports import ArchiveChunk, LocalSigner, MemoryState
from pr_auditor.cli import main
from pr_auditor.core.model import Window, iso
from pr_auditor.core.policy import canonical_policy, parse_policy, policy_changes, policy_from_mapping
from pr_auditor.core.records import direct_push_record, policy_change_record
from pr_auditor.evidence.archive import S3Archive

from evidence import BUCKET, create_evidence_bucket
from harness import REGION, aws_environment
from report_records import PERIOD, archetypes, change, period_records, run_summary

pytestmark = pytest.mark.integration
BROWSER = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
)
WIDTH = 1280
DAYS = 28
POLICY_TEXT = "required_approvals: 1\nexempt_authors: ['dependabot[bot]']\n"
#: Headless, offline, quiet: no sandbox (tests run as root in CI containers; the page is our own file), no GPU,
#: no background fetches (component updates, sync, field trials), and every host name resolving nowhere.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
#: Appended to a copy of the page only (the report itself carries no script): after layout, the widths a
#: sideways scroll would show, and the elements that stick out past the viewport.
MEASURE = """<script>
const root = document.scrollingElement;
const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id);
document.body.dataset.measured = JSON.stringify({scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide});
</script>"""


def _blend(hex_colour: str, opacity: float) -> tuple[int, int, int]:
    """The colour a fill of ``hex_colour`` at ``opacity`` shows on white."""
    rgb = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(round(c * opacity + 255 * (1 - opacity)) for c in rgb)  # type: ignore[return-value]


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - a fixed browser binary on files we just wrote
        [str(BROWSER), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _period_records(period: Window) -> list[dict[str, Any]]:
    """Four weeks of a real mix, plus what makes a page wide: an unbroken 300-character title, a long branch,
    a direct push, and a policy change half-way."""
    records = list(period_records(1_200, period=period, seed=3, run_summaries=False))
    bases = archetypes()
    records.append(
        change(
            bases["unreviewed"],
            repository="acme/web",
            number=9001,
            merged_at=period.since + timedelta(days=2),
            title="x" * 300,
        )
    )
    records.append(
        direct_push_record(
            repository="acme/payments",
            branch="release/" + "very-long-branch-name-" * 6,
            sha="c0ffee" * 6 + "c0ff",
            url="https://github.com/acme/payments/commit/" + "c0ffee" * 6 + "c0ff",
            author="mallory",
            committer="mallory",
            committed_date=period.since + timedelta(days=9),
            exempt=False,
            run_id="run-x",
            policy_version=bases["approved"]["policy_version"],
        )
    )
    old, new = policy_from_mapping({"required_approvals": 2}), parse_policy(POLICY_TEXT)
    records.append(
        policy_change_record(
            scope="acme",
            previous_version=old.version,
            policy_version=new.version,
            changes=policy_changes(canonical_policy(old), canonical_policy(new)),
            origin={"changed_by": "arn:aws:iam::123456789012:user/ops", "changed_at": iso(period.since + timedelta(1))},
            run_id="run-p",
        )
    )
    return records


def _daily_chunks(records: list[dict[str, Any]], period: Window) -> Iterator[ArchiveChunk]:
    """The records as a scheduled stream archives them: one chunk a day, with its completed run summary."""
    day = period.since
    while day < period.until:
        window = Window(day, day + timedelta(days=1))
        run_id = f"run-{iso(day)}"
        mine = [
            r | {"run_id": run_id}
            for r in records
            if window.since
            <= datetime.fromisoformat(r.get("merged_at") or r.get("committed_date") or r["changed_at"])
            < window.until
        ]
        yield ArchiveChunk(
            "acme", "scheduled", window.as_dict(), run_id, tuple(mine), run_summary(window, run_id=run_id)
        )
        day += timedelta(days=1)


@pytest.fixture
def page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict[str, Any]]:
    period = Window(PERIOD.since, PERIOD.since + timedelta(days=DAYS))
    aws_environment()
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        create_evidence_bucket(client)
        archive = S3Archive(
            BUCKET,
            MemoryState(),
            client=client,
            clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),
            signer=LocalSigner.generate(),
        )
        for chunk in _daily_chunks(_period_records(period), period):
            archive.write_chunk(chunk)
        (tmp_path / "policy.yaml").write_text(POLICY_TEXT, encoding="utf-8")
        argv = ["report", "--since", iso(period.since), "--until", iso(period.until), "--bucket", BUCKET]
        argv += ["--region", REGION, "--log-group", "/aws/lambda/pr-auditor-auditor", "--seed", "shot"]
        argv += ["--policy", str(tmp_path / "policy.yaml"), "--out", str(tmp_path / "pack"), "--quiet"]
        assert main(argv, out=io.StringIO()) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "pack" / "summary.json").read_text(encoding="utf-8"))
    return tmp_path / "pack" / "report.html", summary


def test_the_chain_heads_read_from_the_archive_are_in_the_summary_and_on_the_page(
    page: tuple[Path, dict[str, Any]],
) -> None:
    html, summary = page
    [head] = summary["completeness"]["chain"]["heads"]
    assert head["chain"] == "acme/scheduled" and head["seq"] == DAYS
    assert head["key"].startswith("manifests/acme/scheduled/") and re.fullmatch(r"[0-9a-f]{64}", head["sha256"])
    text = html.read_text(encoding="utf-8")
    keep = text[text.index('id="chain-head"') : text.index("<h2>Findings per")]
    assert head["sha256"] in keep and head["key"] in keep


@pytest.mark.skipif(BROWSER is None, reason="no headless browser installed (Debian: apt-get install chromium)")
def test_at_1280_px_the_page_fits_links_every_change_and_shows_the_policy_and_the_chain_head(
    page: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    html, summary = page
    assert summary["exceptions"] > 150  # a long exceptions table, as in the field
    [head] = summary["completeness"]["chain"]["heads"]
    assert summary["completeness"]["chain"]["verified"] is True and head["seq"] == DAYS
    # When Chromium lays the page out in a 1280 px wide window
    measured_copy = tmp_path / "measured.html"
    text = html.read_text(encoding="utf-8")
    measured_copy.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = _chromium(tmp_path, f"--window-size={WIDTH},900", "--dump-dom", measured_copy.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'data-measured="([^"]*)"', done.stdout)
    assert found, done.stdout[:500]
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    # Then nothing scrolls sideways
    assert measured["clientWidth"] == WIDTH
    assert measured["scrollWidth"] <= WIDTH, measured
    # And the laid-out page links every exception's change (short text), shows the policy and the chain head
    dom = done.stdout
    assert dom.count('<tr class="exception"') == summary["exceptions"]
    assert '<a href="https://github.com/acme/web/pull/9001">acme/web#9001</a>' in dom
    assert re.search(
        r'<a href="https://github.com/acme/payments/commit/c0ffee[0-9a-f]+">acme/payments@c0ffeec</a>', dom
    )
    assert ">Logs Insights</a>" in dom
    assert head["sha256"] in dom and head["key"] in dom
    policy = parse_policy(POLICY_TEXT)
    assert (policy.version in dom and "&#34;required_approvals&#34;: 1" in dom) or '"required_approvals": 1' in dom
    assert "non_compliant" not in dom.split('<div class="tiles">')[1].split("</div>\n\n")[0]

    # And the screenshot shows the chart's two largest series
    image_module = pytest.importorskip("PIL.Image", reason="Pillow reads the screenshot (dev extra)")
    from pr_auditor.evidence.report.html import CHART_STYLE

    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, f"--window-size={WIDTH},2000", f"--screenshot={shot}", html.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    if os.environ.get("REPORT_SHOT"):  # keep the picture for a person to look at
        shutil.copyfile(shot, os.environ["REPORT_SHOT"])
    image = image_module.open(shot).convert("RGB")
    assert image.width == WIDTH
    data = image.tobytes()
    pixels = [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]
    first, second = (_blend(colour, float(CHART_STYLE.opacity)) for colour in CHART_STYLE.colors[:2])
    first_pixels = [i for i, p in enumerate(pixels) if _near(p, first)]
    second_pixels = [i for i, p in enumerate(pixels) if _near(p, second)]
    assert len(first_pixels) > 3000, "the largest series' bars are not visible"
    assert len(second_pixels) > 300, "the second series' bars are not visible"
    rows = sorted({i // image.width for i in first_pixels + second_pixels})
    assert rows[-1] - rows[0] < 450  # together in one chart
