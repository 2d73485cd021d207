"""The dashboard's JSON endpoints and pages through an in-process client (``Dashboard.handle``), plus the server's
headers, the CLI, and the static report's sweep pages drawn by the same figure code."""

from __future__ import annotations

import hashlib
import json
import statistics
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gaplab.cli.app import app
from gaplab.report import queries, sweeps
from gaplab.report.html import write_report
from gaplab.serve.app import Dashboard
from gaplab.store.db import Store

SCRIPT = "<script>alert(1)</script>"  # the run, group, spec value and metric name of the "odd" store

HOST = {"Host": "127.0.0.1:8765"}


def get(dash: Dashboard, target: str) -> tuple[int, object]:
    r = dash.handle("GET", target, HOST)
    return r.status, (r.json() if r.content_type == "application/json" else r.body.decode())


def test_sweep_overview_table_and_plot_numbers(stores: dict[str, Path]) -> None:
    dash = Dashboard(stores["sweep"], {"127.0.0.1"})
    status, ov = get(dash, "/api/sweep?group=widths")
    assert status == 200
    assert ov["counts"] == {"done": 18, "running": 0, "diverged": 0, "failed": 0}
    assert {c["id"]: c["distinct"] for c in ov["swept"]} == {"model.args.width": 3, "reg.l2": 2, "seed": 3}
    assert (ov["metric"], ov["x"], ov["by"]) == ("final.test_acc", "model.args.width", "reg.l2")
    assert ov["fixed"]["optim.name"] == "adam"

    # sorted, filtered, paginated on the server
    status, tbl = get(dash, "/api/sweep/table?group=widths&sort=final.test_acc&desc=1&size=4&page=0")
    col = [c["id"] for c in tbl["columns"]].index("final.test_acc")
    assert tbl["total"] == 18 and len(tbl["rows"]) == 4
    assert [r[col] for r in tbl["rows"]] == pytest.approx([0.376, 0.366, 0.356, 0.276])
    _, page4 = get(dash, "/api/sweep/table?group=widths&sort=final.test_acc&desc=1&size=4&page=4")
    assert len(page4["rows"]) == 2
    _, filt = get(dash, "/api/sweep/table?group=widths&f.model.args.width=%3E=64&f.reg.l2=0.1&f.seed=!=2")
    assert filt["total"] == 4
    _, text = get(dash, "/api/sweep/table?group=widths&f.status=don")
    assert text["total"] == 18

    # the plotted means and spreads are the seeds' mean and sample std
    _, fig = get(dash, "/api/sweep/plot?group=widths")
    by_name = {t["name"]: t for t in fig["data"]}
    t = by_name["reg.l2 = 0.1"]
    assert t["x"] == [16, 64, 256]
    for x, y, e in zip(t["x"], t["y"], t["error_y"]["array"], strict=True):
        vals = [x / 1000 + 0.1 + s / 100 for s in (0, 1, 2)]
        assert y == pytest.approx(statistics.mean(vals)) and e == pytest.approx(statistics.stdev(vals))
    _, logfig = get(dash, "/api/sweep/plot?group=widths&x=reg.l2&by=&logx=1&logy=1")
    assert logfig["layout"]["yaxis"]["type"] == "log" and len(logfig["data"]) == 1
    _, latest = get(dash, "/api/sweep/latest?group=widths&metric=test_loss&n=3")
    assert len(latest["data"]) == 3 and latest["data"][0]["x"] == [1, 2, 3, 4]


def test_run_api_overlay_and_downsampling(stores: dict[str, Path]) -> None:
    dash = Dashboard(stores["sweep"], {"127.0.0.1"})
    _, tbl = get(dash, "/api/sweep/table?group=widths&size=3")
    a, b = tbl["ids"][:2]
    status, one = get(dash, f"/api/run?id={a}")
    assert status == 200 and one["runs"][0]["groups"] == ["widths"] and len(one["runs"][0]["history"]) == 4
    _, figs = get(dash, f"/api/run/figures?id={a}&id={b}&logy=1")
    titles = [f["layout"]["title"]["text"] for f in figs["figures"]]
    assert titles == ["loss", "accuracy", "generalization gap", "weight norms"]
    assert len(figs["figures"][0]["data"]) == 4  # two runs × train/test loss, overlaid
    assert figs["figures"][0]["layout"]["yaxis"]["type"] == "log"
    page = dash.handle("GET", f"/run?id={a}&id={b}", HOST).body.decode()
    assert "Spec keys that differ" in page
    con = queries.connect(stores["sweep"])
    assert [h["epoch"] for h in queries.history(con, a, max_points=2)] == [1, 3, 4]  # every 2nd, and the last
    assert [e for e, _ in queries.metric_curves(con, [a], "test_loss", max_points=2)[a]] == [1, 3, 4]


def test_edge_stores_never_500(stores: dict[str, Path]) -> None:
    for name in ("empty", "one", "odd", "big"):
        dash = Dashboard(stores[name], {"127.0.0.1"})
        group = {"empty": None, "one": "single", "odd": "odd", "big": "big"}[name]
        q = "" if group is None else f"group={group}"
        for target in ("/", f"/sweep?{q}", f"/api/sweep?{q}", f"/api/sweep/table?{q}", f"/api/sweep/plot?{q}",
                       f"/api/sweep/latest?{q}", "/api/groups"):
            r = dash.handle("GET", target, HOST)
            assert r.status == 200, (name, target, r.body[:300])
            if r.content_type == "application/json":
                json.loads(r.body)  # strict JSON: NaN/inf arrive as null
    dash = Dashboard(stores["odd"], {"127.0.0.1"})
    _, ov = get(dash, "/api/sweep?group=odd")
    assert ov["counts"] == {"done": 2, "running": 0, "diverged": 2, "failed": 1}
    _, tbl = get(dash, "/api/sweep/table?group=odd&sort=final.test_loss")
    for rid in tbl["ids"]:
        status, figs = get(dash, f"/api/run/figures?id={rid}")
        assert status == 200
    _, fig = get(dash, "/api/sweep/plot?group=odd&metric=final.test_loss&x=model.args.width")
    assert any(p is None for t in fig["data"] for p in t["y"])  # a diverged run's mean is a gap, not NaN


def test_bad_input_gives_404_or_400_never_a_traceback(stores: dict[str, Path]) -> None:
    dash = Dashboard(stores["sweep"], {"127.0.0.1"})
    cases = {
        "/nope": 404, "/run?id=ffffffffffffffff": 404, "/run?id=%3Cscript%3E": 400, "/run": 400,
        "/sweep?group=missing": 404, "/api/sweep?group=missing": 404, "/api/sweep/table?group=widths&sort=x": 400,
        "/api/sweep/table?group=widths&page=-1": 400, "/api/sweep/table?group=widths&size=abc": 400,
        "/api/sweep/table?group=widths&f.final.test_acc=%3Eabc": 400, "/api/sweep/table?group=widths&f.bogus=1": 400,
        "/api/sweep/plot?group=widths&metric=final.nope": 400, "/api/sweep/plot?group=widths&logx=maybe": 400,
        "/api/sweep/latest?group=widths&n=1000": 400, "/api/run/figures?id=" + ",".join(["a"] * 13): 400,
        "/study/none/": 404, "/artifact/doctor/x/": 404, "/artifact/x": 404, "/static/../../etc/passwd": 404,
        "/api/run?id=" + "1" * 100: 400, "/api/sweep/table?group=widths&page=99999999999999999999999": 400,
        "/api/run/figures?id=ffff&max_points=0": 400,
    }
    for target, want in cases.items():
        r = dash.handle("GET", target, HOST)
        assert r.status == want, (target, r.status, r.body[:200])
        assert b"Traceback" not in r.body and b"File \"" not in r.body
    big = Dashboard(stores["big"], {"127.0.0.1"})
    assert big.handle("GET", "/api/sweep/plot?group=big&by=id", HOST).status == 400  # 10,000 lines: refused
    assert dash.handle("POST", "/", HOST).status == 405
    assert dash.handle("GET", "/", {"Host": "evil.example:8765"}).status == 400  # DNS rebinding


def test_user_strings_are_escaped(stores: dict[str, Path]) -> None:
    dash = Dashboard(stores["odd"], {"127.0.0.1"})
    for target in ("/", "/sweep?group=%3Cscript%3Ealert(1)%3C/script%3E"):
        body = dash.handle("GET", target, HOST).body.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body or "\\u003cscript\\u003e" in body
        assert SCRIPT not in body
    _, tbl = get(dash, "/api/sweep/table?group=%3Cscript%3Ealert(1)%3C/script%3E")
    rid = tbl["ids"][0]
    page = dash.handle("GET", f"/run?id={rid}", HOST).body.decode()
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    _, fig = get(dash, f"/api/sweep/plot?group=%3Cscript%3Ealert(1)%3C/script%3E&metric=final.{SCRIPT}"
                       "&x=model.args.activation")
    assert fig["data"][0]["x"] == ["&lt;script&gt;alert(1)&lt;/script&gt;", "relu"]
    assert SCRIPT not in json.dumps(fig)


def test_never_writes_the_store(stores: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "copy.db"
    path.write_bytes(stores["sweep"].read_bytes())
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    dash = Dashboard(path, {"127.0.0.1"})
    for t in ("/", "/sweep?group=widths", "/api/sweep/table?group=widths", "/api/sweep/plot?group=widths"):
        assert dash.handle("GET", t, HOST).status == 200
    con = queries.connect(path)
    with pytest.raises(Exception, match="readonly|read-only|query_only"):
        con.execute("DELETE FROM runs")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_server_headers_bind_and_cors(stores: dict[str, Path], serve_store) -> None:  # type: ignore[no-untyped-def]
    s = serve_store(stores["sweep"])
    assert s.server.server_address[0] == "127.0.0.1"
    with urllib.request.urlopen(s.url + "/api/groups") as r:
        assert r.status == 200
        assert "Access-Control-Allow-Origin" not in r.headers
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(s.url + "/run?id=ffff")
    assert e.value.code == 404 and b"Not found" in e.value.read()
    with urllib.request.urlopen(s.url + "/static/plotly.min.js") as r:
        assert r.headers["Content-Type"].startswith("text/javascript") and len(r.read()) > 1_000_000


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["serve", "--help"])
    assert res.exit_code == 0 and "127.0.0.1" in res.output and "read" in res.output
    res = runner.invoke(app, ["serve", "--store", str(tmp_path / "none.db")])
    assert res.exit_code == 2 and "no results store" in res.output


def test_static_report_draws_the_same_figures(stores: dict[str, Path], tmp_path: Path) -> None:
    index = write_report(Store(stores["odd"]), tmp_path / "rep")
    text = index.read_text()
    assert "sweeps/odd/index.html" in text and SCRIPT not in text
    folder = tmp_path / "rep" / "sweeps" / sweeps.folder_name(SCRIPT)
    assert (folder / "index.html").exists() and (tmp_path / "rep" / "plotly.min.js").stat().st_size > 1_000_000
    page = (tmp_path / "rep" / "sweeps" / "odd" / "index.html").read_text()
    assert SCRIPT not in page
    blob = page.split('data-figure-for="sweep-plot">')[1].split("</script>")[0]
    dash = Dashboard(stores["odd"], {"127.0.0.1"})
    _, fig = get(dash, "/api/sweep/plot?group=odd")
    assert json.loads(blob) == fig  # one renderer: the report and the dashboard draw the same figure


def test_study_and_artifact_pages_reuse_the_report(stores: dict[str, Path], tmp_path: Path) -> None:
    from gaplab.report.html import ARTIFACT_PAGES, artifact_page

    dash = Dashboard(stores["sweep"], {"127.0.0.1"})
    home = get(dash, "/")[1]
    assert "/study/polyfit/" in home and SCRIPT not in home
    status, page = get(dash, "/study/polyfit/")
    assert status == 200 and 'id=verdict>held' in page and '<img src="fit.png"' in page and SCRIPT not in page
    img = dash.handle("GET", "/study/polyfit/fit.png", HOST)
    assert img.status == 200 and img.content_type == "image/png" and img.body[:4] == b"\x89PNG"
    assert dash.handle("GET", "/study/polyfit/..%2F..%2Fsweep.db", HOST).status == 404
    assert get(dash, "/study/polyfit/verdict.json")[1]["claim_id"] == "C1"

    @artifact_page("testkind", "Test results")
    def _render(row, folder):  # type: ignore[no-untyped-def]
        (folder / "x.txt").write_text("x")
        return f"<h1 id=t>{row['data']['value']}</h1><a href=x.txt>x</a>"

    try:
        path = tmp_path / "a.db"
        with Store(path) as db:
            db.save_artifact("testkind", "a/b <c>", {"title": SCRIPT, "value": 7})
        dash = Dashboard(path, {"127.0.0.1"})
        home = get(dash, "/")[1]
        assert "Test results" in home and SCRIPT not in home and "/artifact/testkind/a%2Fb%20%3Cc%3E/" in home
        status, page = get(dash, "/artifact/testkind/a%2Fb%20%3Cc%3E/")
        assert status == 200 and "<h1 id=t>7</h1>" in page
        assert dash.handle("GET", "/artifact/testkind/a%2Fb%20%3Cc%3E/x.txt", HOST).body == b"x"
        assert dash.handle("GET", "/artifact/testkind/a%2Fb%20%3Cc%3E/..%2Fy", HOST).status == 404
        assert dash.handle("GET", "/artifact/testkind/nope/", HOST).status == 404
    finally:
        ARTIFACT_PAGES.pop("testkind", None)


def test_running_counts_live_claims(stores: dict[str, Path], tmp_path: Path) -> None:
    """Stores with a claims table (run id, owner, heartbeat): fresh claims on unfinished runs count as running."""
    import sqlite3
    import time

    path = tmp_path / "claims.db"
    path.write_bytes(stores["sweep"].read_bytes())
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS claims (run_id TEXT PRIMARY KEY, owner TEXT, heartbeat REAL)")
    done = con.execute("SELECT id FROM runs LIMIT 1").fetchone()[0]
    now = time.time()
    con.executemany("INSERT INTO claims VALUES (?, 'me', ?)", [("a" * 16, now), ("b" * 16, now - 3600), (done, now)])
    con.commit()
    con.close()
    dash = Dashboard(path, {"127.0.0.1"})
    assert get(dash, "/api/sweep")[1]["counts"]["running"] == 1  # the stale claim and the finished run do not count
    assert get(dash, "/api/sweep?group=widths")[1]["counts"]["running"] == 0


def test_a_sweep_under_way_shows_its_running_runs(stores: dict[str, Path], tmp_path: Path) -> None:
    """A sweep tags its runs with its group, then claims them (``SweepBook``): the home page's groups table and the
    sweep page count those claims as running, also before the sweep has stored any run."""
    from gaplab.store.db import new_owner

    path = tmp_path / "live.db"
    path.write_bytes(stores["sweep"].read_bytes())
    with Store(path) as db:
        db.tag("live", ["x" * 16, "y" * 16])  # nothing stored yet
        db.tag("widths", ["z" * 16])  # one more run of a sweep that has stored runs
        assert db.claim(["x" * 16, "y" * 16, "z" * 16], new_owner()) == {"x" * 16, "y" * 16, "z" * 16}
    dash = Dashboard(path, {"127.0.0.1"})
    groups = {g["name"]: g for g in get(dash, "/api/groups")[1]["groups"]}  # type: ignore[index]
    assert groups["live"]["runs"] == 0 and groups["live"]["counts"]["running"] == 2
    assert groups["widths"]["runs"] == 18 and groups["widths"]["counts"]["running"] == 1
    assert get(dash, "/api/sweep?group=live")[1]["counts"]["running"] == 2  # type: ignore[index]
    assert get(dash, "/sweep?group=live")[0] == 200
    assert "status-running\">2<" in str(get(dash, "/")[1])
    with Store(path) as db:  # the static report draws the live sweep's page too (no stored runs yet)
        index = write_report(db, tmp_path / "report")
    assert "sweeps/live/index.html" in index.read_text()
