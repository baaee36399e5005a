"""Post each patch's verdict of a run as a Patchwork check, for projects whose config names a
Patchwork instance (`patchwork_url`, `patchwork_project`) and whose token is set
(SERIESBOT_PATCHWORK_TOKEN_<PROJECT>, the project name upper-cased with "-" as "_").

Patchwork REST API: the patch is found by Message-ID (GET /api/patches/?project=&msgid=, the id
without angle brackets), then POST /api/patches/<id>/checks/ with state (success, warning, fail,
pending), context, target_url and description, authenticated by `Authorization: Token <token>`.
A patch Patchwork does not know (yet) is skipped; network and HTTP errors are returned per patch,
so the caller may retry. Checks are append-only in Patchwork: it shows the newest per context."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from bot.db.models import Patch, PatchResult, Run
from bot.db.session import session_scope
from bot.settings import ProjectSettings, Settings

log = logging.getLogger("seriesbot.patchwork")
CONTEXT = "seriesbot"
STATE = {"ok": "success", "warn": "warning", "fail": "fail", "blocked": "fail", "error": "fail", "skip": "warning"}
TIMEOUT = 20.0
MAX_DESCRIPTION = 250


@dataclass(frozen=True)
class CheckInput:
    index: int
    message_id: str
    verdict: str
    apply: str
    build: str
    test: str
    rules: str
    findings: int
    note: str


@dataclass(frozen=True)
class PostedCheck:
    index: int
    message_id: str
    patchwork_id: int | None
    state: str
    ok: bool
    error: str = ""


def token_env_name(project: str) -> str:
    return "SERIESBOT_PATCHWORK_TOKEN_" + project.upper().replace("-", "_")


def patchwork_token(project: ProjectSettings, env: Mapping[str, str] | None = None) -> str:
    """The project's token, read from the environment by load_settings (or from `env`, in tests)."""
    if env is not None:
        return env.get(token_env_name(project.name), "").strip()
    return project.patchwork_token


def check_payload(c: CheckInput, target_url: str) -> dict[str, str]:
    """The check for one patch result (pure)."""
    state = STATE.get(c.verdict, "pending")
    parts = [f"apply {c.apply}", f"build {c.build}", f"test {c.test}", f"rules {c.rules}"]
    if c.findings:
        parts.append(f"{c.findings} finding(s)")
    description = ", ".join(parts) + (f" - {c.note}" if c.note else "")
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 3] + "..."
    return {"state": state, "context": CONTEXT, "target_url": target_url, "description": description}


def load_inputs(settings: Settings, run_id: int) -> tuple[str, int, list[CheckInput]] | None:
    """(project, series id, one input per stored result) of the run."""
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        rows = session.execute(
            select(PatchResult, Patch.message_id).join(Patch, Patch.id == PatchResult.patch_id)
            .where(PatchResult.run_id == run_id).order_by(PatchResult.index)
            .options(selectinload(PatchResult.findings))).all()
        inputs = [CheckInput(r.index, msgid, r.verdict, r.apply, r.build, r.test, r.rules, len(r.findings),
                             str((r.details or {}).get("apply_note", "")))
                  for r, msgid in rows]
        return run.project, run.series_id, inputs


def find_patch(client: httpx.Client, project: ProjectSettings, message_id: str, headers: dict[str, str]) -> int | None:
    params = {"msgid": message_id.strip("<>")}
    if project.patchwork_project:
        params["project"] = project.patchwork_project
    response = client.get(f"{project.patchwork_url.rstrip('/')}/api/patches/", params=params, headers=headers)
    response.raise_for_status()
    found: Any = response.json()
    items = found.get("results", []) if isinstance(found, dict) else found
    return int(items[0]["id"]) if items else None


def post_checks(settings: Settings, run_id: int, *, client: httpx.Client | None = None,
                env: Mapping[str, str] | None = None) -> list[PostedCheck]:
    """Post every stored result of the run; [] when the project has no Patchwork configured."""
    loaded = load_inputs(settings, run_id)
    if loaded is None:
        return []
    project_name, series_id, inputs = loaded
    project = settings.project(project_name)
    if not project.patchwork_url:
        return []
    token = patchwork_token(project, env)
    if not token:
        log.warning("event=patchwork-no-token project=%s env=%s", project.name, token_env_name(project.name))
        return []
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    posted = []
    try:
        for c in inputs:
            target = f"{settings.public_url}/series/{series_id}?run={run_id}#patch-{c.index}"
            payload = check_payload(c, target)
            try:
                pw_id = find_patch(client, project, c.message_id, headers)
                if pw_id is None:
                    posted.append(PostedCheck(c.index, c.message_id, None, payload["state"], False,
                                              "not found in Patchwork"))
                    continue
                response = client.post(f"{project.patchwork_url.rstrip('/')}/api/patches/{pw_id}/checks/",
                                       json=payload, headers=headers)
                response.raise_for_status()
                posted.append(PostedCheck(c.index, c.message_id, pw_id, payload["state"], True))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("event=patchwork-error run=%d patch=%d error=%s", run_id, c.index, exc)
                posted.append(PostedCheck(c.index, c.message_id, None, payload["state"], False, str(exc)))
    finally:
        if own:
            client.close()
    log.info("event=patchwork-checks run=%d posted=%d of=%d", run_id, sum(p.ok for p in posted), len(posted))
    return posted


def post_checks_after_commit(session: Session, settings: Settings, run: Run) -> bool:
    """For the report stage: once the transaction that marks `run` reported commits, post its
    checks (nothing for a rolled-back transaction, a run that ended in error, or a project without
    Patchwork). Returns whether posting was scheduled."""
    project = settings.projects.get(run.project)
    if run.state != "done" or project is None or not project.patchwork_url:
        return False
    run_id = run.id

    def _post(_session: Session) -> None:
        try:
            post_checks(settings, run_id)
        except Exception:  # the report already committed; a Patchwork fault must not undo it
            log.exception("event=patchwork-failed run=%d", run_id)

    event.listen(session, "after_commit", _post, once=True)
    return True
