"""Versions, reports and notices around order-independent assembly, through store_message + ingest
on SQLite: a later version arriving first, cover/no cover, renamed titles, superseded runs, the
"since the last version" lines, absurd counters, and incomplete notices only when truly incomplete."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from bot.db.models import Message, OutboundMail, Patch, PatchResult, Run, Series, utcnow
from bot.db.session import session_scope
from bot.reconcile import reconcile
from bot.report.report import report_run
from tests.helpers import make_mail, patch_body
from tests.ingest_driver import all_series, deliver
from tests.integration.test_assembly import series_mails
from tests.integration.test_web_fixtures import web_world_fixture  # noqa: F401  (the web_world fixture)


def test_a_later_version_arriving_first_still_supersedes_the_earlier(bot_settings):
    for raw in series_mails("w2", version=2):
        deliver(bot_settings, raw)
    for raw in series_mails("w1"):
        deliver(bot_settings, raw)
    by_version = {s["version"]: s for s in all_series(bot_settings)}
    v1, v2 = by_version[1], by_version[2]
    assert v1["superseded_by"] == v2["id"] and v2["supersedes"] == v1["id"] and v1["state"] == "superseded"
    assert v1["runs"] == [] and v2["runs"] == [("new-series", "queued")]  # v1 is never tested


def test_v1_with_a_cover_and_v2_without_one_and_a_new_title_are_linked(bot_settings):
    for raw in series_mails("k1", title="domain: add foo"):
        deliver(bot_settings, raw)
    for raw in series_mails("k2", version=2, cover=False, title="domain: add foo"):  # same patch subjects
        deliver(bot_settings, raw)
    v1, v2 = all_series(bot_settings)
    assert v2["cover"] is None and v1["superseded_by"] == v2["id"]


def test_change_id_links_versions_whatever_their_titles(bot_settings):
    footer = "\n---\nbase-commit: " + "ab" * 20 + "\nchange-id: 20260301-foo-0123abcd\n"
    for raw in series_mails("h1", title="one name", cover_body="Blurb." + footer):
        deliver(bot_settings, raw)
    for raw in series_mails("h2", version=2, title="quite another", cover_body="Blurb." + footer):
        deliver(bot_settings, raw)
    v1, v2 = all_series(bot_settings)
    assert v1["superseded_by"] == v2["id"]


def _finish(settings, series_id: int, verdicts: dict[int, str]) -> int:
    with session_scope(settings.database_url) as s:
        run = s.scalar(select(Run).where(Run.series_id == series_id).order_by(Run.id.desc()).limit(1))
        run.state, run.verdict, run.finished_at = "done", "fail" if "fail" in verdicts.values() else "ok", utcnow()
        for p in s.scalars(select(Patch).where(Patch.series_id == series_id)):
            v = verdicts[p.index]
            s.add(PatchResult(run_id=run.id, patch_id=p.id, index=p.index, apply="ok", build=v, test=v, rules="ok",
                              verdict=v, reported=True))
        return run.id


def test_the_v2_summary_says_what_changed_since_v1(bot_settings):
    for raw in series_mails("d1"):
        deliver(bot_settings, raw)
    [v1] = all_series(bot_settings)
    _finish(bot_settings, v1["id"], {1: "fail", 2: "ok", 3: "ok"})
    v2_mails = series_mails("d2", version=2, n=4)
    for raw in v2_mails:
        deliver(bot_settings, raw)
    v2 = next(s for s in all_series(bot_settings) if s["version"] == 2)
    assert v2["supersedes"] == v1["id"]
    run_id = _finish(bot_settings, v2["id"], {1: "ok", 2: "fail", 3: "ok", 4: "ok"})
    assert report_run(run_id, bot_settings)
    with session_scope(bot_settings.database_url) as s:
        body = s.scalar(select(OutboundMail.body).where(OutboundMail.run_id == run_id))
    assert "Since v1: 1 fixed, 1 newly failing, 1 unchanged, 1 new patch." in body
    assert "  1  fixed: part 1 of domain: add foo" in body and "  4  new patch: part 4 of domain: add foo" in body


def test_a_superseded_version_s_finished_run_is_not_reported(bot_settings):
    for raw in series_mails("e1"):
        deliver(bot_settings, raw)
    [v1] = all_series(bot_settings)
    with session_scope(bot_settings.database_url) as s:  # the worker had started it before v2 came
        s.scalar(select(Run).where(Run.series_id == v1["id"])).state = "running"
    for raw in series_mails("e2", version=2):
        deliver(bot_settings, raw)
    run_id = _finish(bot_settings, v1["id"], {1: "ok", 2: "ok", 3: "ok"})
    assert not report_run(run_id, bot_settings)
    with session_scope(bot_settings.database_url) as s:
        assert s.scalars(select(OutboundMail).where(OutboundMail.run_id == run_id)).all() == []


def test_absurd_counters_are_stored_marked_never_run_or_mailed(bot_settings):
    for n, subject in enumerate(["[PATCH 0/0] nothing", "[PATCH 4/3] too many", "[PATCH 1/5000] huge"]):
        pk, status = deliver(bot_settings, make_mail(subject, msgid=f"abs{n}@x", body=patch_body()))
        assert status == "rejected"
    with session_scope(bot_settings.database_url) as s:
        rows = s.scalars(select(Message).where(Message.message_id.like("abs%"))).all()
        assert [("implausible" in r.reason, r.series_id) for r in rows] == [(True, None)] * 3
        assert s.scalars(select(Series)).all() == [] and s.scalars(select(OutboundMail)).all() == []


def _age_and_reconcile(settings) -> None:
    with session_scope(settings.database_url) as s:
        for series in s.scalars(select(Series)):
            series.last_message_at = utcnow() - dt.timedelta(days=2)
    reconcile(settings, send_mail=False)


def _notices(settings) -> int:
    with session_scope(settings.database_url) as s:
        return len(s.scalars(select(OutboundMail).where(OutboundMail.kind == "incomplete")).all())


def test_a_series_split_by_arrival_order_gets_no_incomplete_notice(bot_settings):
    mails = series_mails("sp", deep=True, cover=False, n=3)  # patches 2 and 3 first, patch 1 last
    for raw in [mails[2], mails[1], mails[0]]:
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2, 3] and s["state"] == "queued"
    _age_and_reconcile(bot_settings)
    assert _notices(bot_settings) == 0


def test_a_truly_incomplete_series_gets_one_notice(bot_settings):
    mails = series_mails("ti", n=3)
    for raw in mails[:2] + mails[3:]:
        deliver(bot_settings, raw)
    _age_and_reconcile(bot_settings)
    _age_and_reconcile(bot_settings)
    [s] = all_series(bot_settings)
    assert s["state"] == "incomplete" and s["missing"] == [2] and _notices(bot_settings) == 1


def test_a_command_that_arrives_before_its_patch_runs_when_the_patch_comes(bot_settings):
    from bot.db.models import CommandRow

    mails = series_mails("cb")
    deliver(bot_settings, make_mail("Re: [PATCH 2/3] part 2", msgid="cb-cmd@x", in_reply_to="cb-2@x",
                                    references=["cb-0@x", "cb-2@x"], body="seriesbot: retest rules-only\n"))
    with session_scope(bot_settings.database_url) as s:
        [cmd] = s.scalars(select(CommandRow)).all()
        assert cmd.decision.startswith("waiting") and cmd.series_id is None and not cmd.replied
    for raw in mails:
        deliver(bot_settings, raw)
    [series] = all_series(bot_settings)
    with session_scope(bot_settings.database_url) as s:
        [cmd] = s.scalars(select(CommandRow)).all()
        assert cmd.series_id == series["id"] and not cmd.decision.startswith("waiting"), cmd.decision


def test_series_page_and_api_show_results_since_the_previous_version(web_world):
    html = web_world.client.get(f"/series/{web_world.v2}").text
    section = html.split('id="since-previous"', 1)[1].split("</section>", 1)[0]
    assert "Results since v1" in section
    rows = re.findall(r'<tr class="c-([\w-]+)"><td>([^<]*)</td><td>([^<]*)</td>', section)
    assert len(rows) >= 4 and {kind for kind, _, _ in rows} <= {
        "fixed", "newly-failing", "unchanged", "new-patch", "dropped-patch", "not-compared"}
    api = web_world.client.get(f"/api/series/{web_world.v2}").json()
    assert api["since_version"] == 1 and [c["change"].replace(" ", "-") for c in api["since_previous"]] == \
        [kind for kind, _, _ in rows]
    assert 'id="since-previous"' not in web_world.client.get(f"/series/{web_world.v1}").text


def test_an_imported_incomplete_series_is_history_and_never_announced(bot_settings, tmp_path):
    from bot.receive.importers import import_messages

    mails = series_mails("hi", n=3)
    import_messages(mails[:2] + mails[3:], bot_settings, source="mbox")
    _age_and_reconcile(bot_settings)
    [s] = all_series(bot_settings)
    assert s["state"] == "incomplete" and s["runs"] == [] and _notices(bot_settings) == 0
