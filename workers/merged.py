"""After each mirror fetch: which posted patches has upstream merged? A commit names its mail by a
`Message-Id:` trailer or a `Link:` to lore, or carries the same change (patch-id). A series whose
patches are all upstream is marked merged."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select

from bot.db.models import MirrorState, Patch, Series, utcnow
from bot.db.session import session_scope
from bot.ingest.patchid import patch_id
from bot.settings import ProjectSettings, Settings
from workers import tree

log = logging.getLogger("seriesbot.merged")
MSGID_TRAILER_RE = re.compile(r"^Message-I[dD]:\s*<?([^<>\s]+@[^<>\s]+)>?\s*$", re.M)
LINK_RE = re.compile(r"^Link:\s*https?://\S+?/([^/\s]+@[^/\s]+?)/?\s*$", re.M)
FIRST_LOOK = 200  # commits looked at the first time a project's mirror is seen
MAX_COMMITS = 2000


def mentioned_msgids(message: str) -> set[str]:
    return set(MSGID_TRAILER_RE.findall(message)) | set(LINK_RE.findall(message))


def detect_merged(settings: Settings, project: ProjectSettings, ptree: tree.ProjectTree) -> int:
    """Mark merged patches and series for upstream commits not looked at yet. Returns how many
    patches were newly found merged."""
    head = tree.tip(ptree)
    with session_scope(settings.database_url) as session:
        state = session.get(MirrorState, project.name)
        since = state.checked_sha if state else None
    if since == head:
        return 0
    rev = f"{since}..{head}" if since else head
    limit = MAX_COMMITS if since else FIRST_LOOK
    log_out = tree.git(ptree.mirror, "log", f"--max-count={limit}", "--format=%H%x1f%B%x1e", rev, timeout=600)
    commits = [c.strip().split("\x1f", 1) for c in log_out.stdout.split("\x1e") if c.strip()]
    found = 0
    with session_scope(settings.database_url) as session:
        open_patches = session.scalars(select(Patch).join(Series).where(
            Series.project == project.name, Patch.merged_commit.is_(None),
            Series.state.notin_(("merged",)))).all()
        by_msgid = {p.message_id: p for p in open_patches}
        by_patchid: dict[str, list[Patch]] = {}
        for p in open_patches:
            if p.patch_id:
                by_patchid.setdefault(p.patch_id, []).append(p)
        for sha, message in (c for c in commits if len(c) == 2):
            hits = [by_msgid[m] for m in mentioned_msgids(message) if m in by_msgid]
            if not hits and by_patchid:
                shown = tree.git(ptree.mirror, "show", "--format=", "--no-color", sha, timeout=120)
                pid = patch_id(shown.stdout) if shown.ok else None
                hits = by_patchid.get(pid or "", [])
            for p in hits:
                if p.merged_commit is None:
                    p.merged_commit = sha
                    found += 1
        touched = {p.series_id for p in open_patches if p.merged_commit}
        for series in session.scalars(select(Series).where(Series.id.in_(touched))):
            if series.patches and all(p.merged_commit for p in series.patches):
                series.state = "merged"
                log.info("event=series-merged series=%d", series.id)
        state = session.get(MirrorState, project.name)
        if state is None:
            session.add(MirrorState(project=project.name, checked_sha=head))
        else:
            state.checked_sha, state.checked_at = head, utcnow()
    return found
