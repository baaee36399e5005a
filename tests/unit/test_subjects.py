"""Subject tags as libvirt, QEMU and the kernel send them (b4 underneath, wrapped)."""

import pytest

from bot.ingest.b4compat import parse_subject

CASES = [
    # subject, version, counter, total, title, is_reply
    ("[PATCH] foo: bar", 1, 1, 1, "foo: bar", False),
    ("[PATCH 0/7] big series", 1, 0, 7, "big series", False),
    ("[PATCH v3 02/12] remote: add foo", 3, 2, 12, "remote: add foo", False),
    ("[libvirt PATCH v2 1/3] qemu: fix", 2, 1, 3, "qemu: fix", False),
    ("[PATCH RFC v2 0/3] rfc thing", 2, 0, 3, "rfc thing", False),
    ("[RFC PATCH 1/2] b", 1, 1, 2, "b", False),
    ("[PATCH 1/1] single", 1, 1, 1, "single", False),
    ("[PULL 0/5] pull req", 1, 0, 5, "pull req", False),
    ("[PATCH v2 resend 3/4] d", 2, 3, 4, "d", False),
    ("Re: [PATCH 1/2] e", 1, 1, 2, "e", True),
    ("Fwd: [PATCH] f", 1, 1, 1, "f", False),
    ("[PATCH RESEND] g", 1, 1, 1, "g", False),
]


@pytest.mark.parametrize("subject,version,counter,total,title,is_reply", CASES)
def test_subject_tags(subject, version, counter, total, title, is_reply):
    info = parse_subject(subject)
    assert (info.version, info.counter, info.total, info.title, info.is_reply) == (
        version, counter, total, title, is_reply)
    assert info.is_patch_prefix


def test_absurd_counter_is_kept_so_it_can_be_refused():
    info = parse_subject("[PATCH 99999/99999] big")
    assert (info.counter, info.total) == (99999, 99999)


def test_rfc_and_resend_flags():
    assert parse_subject("[RFC PATCH 1/2] b").is_rfc
    assert parse_subject("[PATCH RESEND] g").is_resend
    assert not parse_subject("plain words").is_patch_prefix
