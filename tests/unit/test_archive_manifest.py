"""The epochs named in a public-inbox manifest.js.gz (the golden text is what public-inbox-httpd 1.9
served for a two-epoch inbox)."""

from __future__ import annotations

import gzip

import pytest

from bot.receive.archive import ArchiveError, parse_manifest

SERVED = (b'{"/test/git/1.git":{"owner":null,"modified":1796169600,"fingerprint":"bb1f448dfe869056a51a8239c25a'
          b'acbc6553a68","description":"public inbox for test@example.org [epoch 1]","reference":null},'
          b'"/test/git/0.git":{"fingerprint":"d9f3b78b84dffe00122d227eb726e01eaea9e50c","description":"public '
          b'inbox for test@example.org [epoch 0]","reference":null,"owner":null,"modified":1796169600}}')


def test_epochs_from_the_gzipped_manifest():
    assert parse_manifest(gzip.compress(SERVED)) == [0, 1]


def test_plain_json_and_other_repositories_ignored():
    assert parse_manifest(b'{"/x/git/10.git": {}, "/x/git/2.git": {}, "/x/all.git": {}, "/y/README": 1}') == [2, 10]


@pytest.mark.parametrize("bad", [b"", b"<html>not found</html>", b"[1, 2]", gzip.compress(b"{"), gzip.compress(SERVED)[:30]])
def test_a_manifest_that_is_not_one_is_an_archive_error(bad):
    with pytest.raises(ArchiveError):
        parse_manifest(bad)
