"""The HTML report: index of verdicts, a page per study with figures, numbers, command; renders in Chromium."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from gaplab.report.html import write_report
from gaplab.store.db import Store
from gaplab.studies import run_study


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, dict(attrs)))


def _parse(path: Path) -> _Collect:
    c = _Collect()
    c.feed(path.read_text())
    return c


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    db = Store(tmp / "s.db")
    run_study("polyfit", "quick", 0, tmp / "studies", db)
    run_study("polyfit", "quick", 0, tmp / "studies", db, overrides={"noise": 0.0, "very_noisy": 0.0})
    return write_report(db, tmp / "report")


def test_structure(report: Path) -> None:
    index = _parse(report)
    links = [a["href"] for t, a in index.tags if t == "a"]
    assert "polyfit/index.html" in links
    assert any(t == "div" and a.get("id") == "verdicts" for t, a in index.tags)
    text = report.read_text()
    assert "did not hold" in text  # the newest verdict (the broken case) is the one shown
    page = report.parent / "polyfit" / "index.html"
    tags = _parse(page).tags
    imgs = [a["src"] for t, a in tags if t == "img"]
    assert len(imgs) >= 2
    for src in imgs:
        with Image.open(page.parent / src) as im:
            assert im.size[0] > 200 and im.size[1] > 150
    body = page.read_text()
    assert "gaplab study polyfit --preset quick --seed 0" in body and "verdict" in body
    assert any(t == "table" and "numbers" in a.get("class", "") for t, a in tags)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    page = report.parent / "polyfit" / "index.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--window-size=1200,1600", "--virtual-time-budget=3000"]
    r = subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True,
                       timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln or "Failed to load resource" in ln]
    assert not console, console
    with Image.open(shot) as im:
        colors = im.convert("L").getcolors(maxcolors=1 << 16)
        assert colors is None or len(colors) > 20  # not a blank page
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<img") >= 2 and "Verdict" in dom


def test_artifact_pages_are_written_and_linked(tmp_path):
    from gaplab.report.html import ARTIFACT_PAGES, artifact_page, write_report
    from gaplab.store.db import Store

    @artifact_page("testkind", "Test results")
    def _render(row, folder):
        (folder / "x.txt").write_text("x")
        return f"<h1 id=t>{row['data']['value']}</h1>"

    try:
        db = Store(tmp_path / "s.db")
        db.save_artifact("testkind", "a/b <c>", {"title": "<b>one</b>", "value": 7})
        index = write_report(db, tmp_path / "rep")
        text = index.read_text()
        assert "Test results" in text and "&lt;b&gt;one&lt;/b&gt;" in text
        page = tmp_path / "rep" / "testkind" / "a_b__c_" / "index.html"
        assert "<h1 id=t>7</h1>" in page.read_text()
        assert (page.parent / "x.txt").exists()
    finally:
        ARTIFACT_PAGES.pop("testkind", None)


def test_copy_figures_copies_named_files_and_their_variants(tmp_path: Path) -> None:
    from gaplab.report.html import copy_figures

    src, page = tmp_path / "src", tmp_path / "page"
    src.mkdir()
    page.mkdir()
    for name in ("a.png", "a.svg", "b.png"):
        (src / name).write_text(name)
    assert copy_figures(src, page, ["a.png", "gone.png"], also=(".svg",)) == ["a.png"]
    assert sorted(p.name for p in page.iterdir()) == ["a.png", "a.svg"]  # b.png was not asked for
    assert copy_figures(None, page, ["a.png", "b.png"]) == ["a.png"]  # no source: what is already there
    assert copy_figures(page, page, ["a.png"], also=(".svg",)) == ["a.png"]  # the page's own folder: no copy
