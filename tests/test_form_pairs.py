"""The token endpoint's form parser (app/web/routes/token.py form_pairs) reads every body as
urllib's parse_qsl(keep_blank_values=True) does: its shortcut for forms with nothing encoded
must not change a single pair."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from app.web.routes.token import form_pairs

EDGES = [
    "",
    "&",
    "&&a=1&&",
    "a",
    "a=",
    "=b",
    "=",
    "a==b",
    "a=b=c",
    "a=1&a=2",
    "grant_type=client_credentials",
    "grant_type=client_credentials&scope=openid%20email",
    "a+b=c+d",
    "a%3Db=c%26d",
    "%zz=1",
    "é=ü&ß",
    "a;b=c",
    " a = b ",
]


def test_the_edges_read_as_parse_qsl_reads_them() -> None:
    for text in EDGES:
        assert form_pairs(text) == parse_qsl(text, keep_blank_values=True), text


@given(st.text(alphabet=st.sampled_from("ab=&;%+ 2Fé\x00"), max_size=40))
def test_any_text_reads_as_parse_qsl_reads_it(text: str) -> None:
    assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)
