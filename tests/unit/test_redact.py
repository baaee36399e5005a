"""The last filter: secrets out of text, JSON-like values and streams read in any chunking."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from bot.redact import REDACTED, Redactor, secrets_of

SECRETS = ["hunter2-smtp", "s3cr3t-web-key-0123456789", "tok"]


def test_text_and_values():
    r = Redactor(SECRETS)
    assert r.text("login hunter2-smtp ok") == f"login {REDACTED} ok"
    assert r.value({"a": ["x s3cr3t-web-key-0123456789 y", 3], "hunter2-smtp": None}) == \
        {"a": [f"x {REDACTED} y", 3], REDACTED: None}
    assert r.text("tok stays: too short to be a secret") == "tok stays: too short to be a secret"
    assert Redactor([]).text("hunter2-smtp") == "hunter2-smtp"


def test_secrets_of_settings(tmp_path):
    (tmp_path / "web-secret").write_text("from-the-file-abcdef\n")
    settings = SimpleNamespace(
        smtp_out=SimpleNamespace(password="relay-pass"), web=SimpleNamespace(secret_key="", logins={"a@b": "tok12345"}),
        database_url="postgresql://bot:db%2Fpass@127.0.0.1/x", broker_url="redis://:brokerpw@127.0.0.1:6379/0",
        projects={"p": SimpleNamespace(patchwork_token="pwtoken")}, data_dir=tmp_path)
    assert set(secrets_of(settings)) == {"relay-pass", "tok12345", "db/pass", "brokerpw", "pwtoken",
                                         "from-the-file-abcdef"}


@given(st.lists(st.sampled_from(["a", "b", "hunter2-smtp", "s3cr3t-web-key-0123456789", "hunter2", "\n", "xyz"]),
                max_size=40),
       st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=20))
def test_a_stream_is_redacted_whatever_the_chunking(pieces, sizes):
    r = Redactor(SECRETS)
    data = "".join(pieces).encode()
    stream, out, pos, i = r.stream(), [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        out.append(stream.feed(data[pos:pos + size]))
        pos, i = pos + size, i + 1
    out.append(stream.flush())
    assert b"".join(out) == r.data(data)
    assert b"hunter2-smtp" not in b"".join(out)
