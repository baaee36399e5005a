"""A generator of realistic list archives with their ground truth, for the assembly property tests
and the import benchmark. Shapes: cover letter or not, shallow or deep threading (References full or cut to the parent), `--no-thread`
series, versions threaded under the previous one or not (with a changed title, a `Supersedes:`
line or b4's `change-id:`), resends, incomplete versions (a patch never sent), review trailers in
replies (to a patch, to the cover, with References cut short), and absurd counters (0/0, 5/3)
that must make no series at all."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from tests.helpers import make_mail, patch_body

LIST_ID = "devel.demo.seriesbot.test"
BASE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
AUTHORS = [("Ada Lovelace", "ada@example.org"), ("Grace Hopper", "grace@example.org"),
           ("Alan Turing", "alan@example.org"), ("Edsger Dijkstra", "edsger@example.org")]
REVIEWERS = [("Jane Roe", "jane@example.org"), ("Bob Poe", "bob@example.org")]


@dataclass
class TruthSeries:
    """One version as it was posted: what the bot must make of it."""

    cover: str | None
    patches: dict[int, str]
    version: int
    total: int
    complete: bool
    superseded_by: str | None = None  # the identity (first Message-ID) of the next version
    trailers: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        return self.cover or self.patches[min(self.patches)]


@dataclass
class Archive:
    mails: list[bytes]  # archive order (by date)
    series: list[TruthSeries]
    absurd: list[str]  # Message-IDs of mails with an impossible counter


class _Gen:
    def __init__(self, rng: random.Random, prefix: str) -> None:
        self.rng, self.prefix = rng, prefix
        self.out: list[tuple[dt.datetime, bytes]] = []
        self.truth: list[TruthSeries] = []
        self.absurd: list[str] = []
        self.n = 0
        self.unthreaded_authors: set[tuple[str, str]] = set()

    def msgid(self, what: str) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}.{what}@gen.example"

    def mail(self, when: dt.datetime, subject: str, msgid: str, sender: tuple[str, str], body: str,
             chain: list[str], irt: str | None) -> None:
        self.out.append((when, make_mail(subject, msgid=msgid, sender=f"{sender[0]} <{sender[1]}>", body=body,
                                         in_reply_to=irt, references=chain, list_id=LIST_ID, date=when)))

    def topic(self, t: int, author: tuple[str, str], start: dt.datetime) -> None:
        rng = self.rng
        versions = rng.choice([1, 1, 2, 2, 3])
        total = rng.randint(1, 5)
        titles = [f"topic{t}: step {j} of {self.prefix}{t}" for j in range(1, 7)]
        series_title = f"topic{t}: make {self.prefix}{t} better"
        change_id = f"20260302-topic{t}-{rng.randrange(16**8):08x}" if rng.random() < 0.3 else None
        unthreaded = rng.random() < 0.1 and total > 1 and author not in self.unthreaded_authors
        if unthreaded:  # two --no-thread series of one author, version and length at once are ambiguous
            self.unthreaded_authors.add(author)
        previous: TruthSeries | None = None
        when = start
        for v in range(1, versions + 1):
            if v > 1:
                if rng.random() < 0.4:  # one patch more or less, most subjects kept
                    total = max(1, min(6, total + rng.choice([-1, 1])))
                if rng.random() < 0.3:
                    series_title = f"topic{t}: make {self.prefix}{t} better, take {v}"
            when += dt.timedelta(days=rng.randint(1, 5))
            resend = v == versions and rng.random() < 0.15
            copies = [False, True] if resend else [False]
            for is_resend in copies:
                truth = self.version(t, author, v, total, titles, series_title, when, previous, change_id,
                                     unthreaded and v == 1 and not is_resend, is_resend)
                if previous is not None:
                    previous.superseded_by = truth.identity
                previous = truth
                when += dt.timedelta(hours=rng.randint(2, 30))

    def version(self, t: int, author: tuple[str, str], v: int, total: int, titles: list[str], series_title: str,
                when: dt.datetime, previous: TruthSeries | None, change_id: str | None, unthreaded: bool,
                resend: bool) -> TruthSeries:
        rng = self.rng
        tag = ("RESEND " if resend else "") + "PATCH" + (f" v{v}" if v > 1 else "")
        cover_wanted = not unthreaded and (total > 1 and rng.random() < 0.75 or rng.random() < 0.1)
        deep = rng.random() < 0.3
        under: list[str] = []
        supersedes_line = ""
        if previous is not None and not unthreaded:
            style = rng.random()
            if style < 0.35:
                under = [previous.identity]  # git send-email --in-reply-to=<previous version>
            elif style < 0.5:
                supersedes_line = f"\nSupersedes: <{previous.identity}>\n"
        cover = self.msgid("cover") if cover_wanted else None
        ids = {i: self.msgid(f"p{i}") for i in range(1, total + 1)}
        sent = dict(ids)
        if rng.random() < 0.1 and total > 1:  # incomplete: one patch never came (never patch 1, whose
            del sent[rng.choice(sorted(sent)[1:])]  # subject is what ties a cover-less series to its versions)
        # a mail client that keeps only the parent in References (never with a patch missing: then
        # nothing in the headers ties the patches after the gap to the series)
        cut = deep and len(sent) == total and rng.random() < 0.3
        footer = ""
        if change_id:
            footer = f"\n---\nbase-commit: {'ab' * 20}\nchange-id: {change_id}\n"
        if cover:
            self.mail(when, f"[{tag} 0/{total}] {series_title}", cover, author,
                      f"This series does {series_title}.\n{supersedes_line}{footer}", under,
                      under[-1] if under else None)
        root = [cover] if cover else []
        step = dt.timedelta(seconds=1)
        for i in range(1, total + 1):
            if unthreaded:
                chain: list[str] = []
            elif deep:
                chain = under + root + [ids[j] for j in range(1, i)]
                chain = chain[-1:] if cut else chain
            elif cover:
                chain = under + root
            else:
                chain = under + ([ids[1]] if i > 1 else [])
            body = patch_body(path=f"src/t{t}_{i}.c", message=f"Step {i}.{supersedes_line if not cover else ''}")
            if i in sent:
                self.mail(when + step * i, f"[{tag} {i}/{total}] {titles[i - 1]}", ids[i], author, body, chain,
                          chain[-1] if chain else None)
        truth = TruthSeries(cover=cover, patches={i: ids[i] for i in sent}, version=v, total=total,
                            complete=len(sent) == total)
        self.truth.append(truth)
        self.replies(truth, under + root, when + dt.timedelta(hours=1))
        return truth

    def replies(self, truth: TruthSeries, root: list[str], when: dt.datetime) -> None:
        rng = self.rng
        for i, target in sorted(truth.patches.items()):
            if rng.random() < 0.35:
                who = rng.choice(REVIEWERS)
                trailer = ("Reviewed-by", f"{who[0]} <{who[1]}>")
                chain = [target] if rng.random() < 0.3 else root + [target]  # References cut short, sometimes
                when += dt.timedelta(minutes=rng.randint(1, 90))
                self.mail(when, f"Re: patch {i}", self.msgid("re"), who, f"> quoted\n\n{trailer[0]}: {trailer[1]}\n",
                          chain, target)
                have = truth.trailers.setdefault(i, [])
                if trailer not in have:
                    have.append(trailer)
        if truth.cover and rng.random() < 0.3:
            who = rng.choice(REVIEWERS)
            trailer = ("Acked-by", f"{who[0]} <{who[1]}>")
            when += dt.timedelta(minutes=rng.randint(91, 200))
            self.mail(when, "Re: the series", self.msgid("ack"), who, f"Series:\n{trailer[0]}: {trailer[1]}\n",
                      root, truth.cover)
            for i in truth.patches:
                have = truth.trailers.setdefault(i, [])
                if trailer not in have:
                    have.append(trailer)

    def absurd_mails(self, when: dt.datetime) -> None:
        for subject in ("[PATCH 0/0] nothing at all", "[PATCH 5/3] more than all", "[PATCH 1/100000] a lot"):
            msgid = self.msgid("absurd")
            self.absurd.append(msgid)
            self.mail(when, subject, msgid, AUTHORS[0], patch_body(path="src/absurd.c"), [], None)


def generate(seed: int, topics: int = 8, prefix: str = "g") -> Archive:
    rng = random.Random(seed)
    gen = _Gen(rng, f"{prefix}{seed}x")
    for t in range(topics):
        author = AUTHORS[t % len(AUTHORS)] if rng.random() < 0.8 else AUTHORS[0]
        gen.topic(t, author, BASE + dt.timedelta(hours=rng.randint(0, 24 * 20)))
    gen.absurd_mails(BASE + dt.timedelta(days=3))
    gen.out.sort(key=lambda item: item[0])
    return Archive(mails=[raw for _, raw in gen.out], series=gen.truth, absurd=gen.absurd)
