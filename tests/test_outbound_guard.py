"""The guard of fetches made on a client's behalf (app/auth/addresses.py, app/auth/outbound.py)
and the pure rules of metadata documents (app/rules/client_documents.py): which addresses may
be reached, that a name is resolved once and the connection goes to the address checked, and
which client ids name a document and how long one is kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.auth.addresses import address_refusal
from app.auth.outbound import FetchRefused, OutboundFetcher
from app.rules.client_documents import cache_seconds, document_url_problem
from tests.document_server import DocumentServer, document_server

pytestmark = pytest.mark.anyio

ADDRESSES = [
    # (address, refused without loopback allowed, refused with it)
    ("93.184.216.34", False, False),
    ("2606:4700:4700::1111", False, False),
    ("127.0.0.1", True, False),
    ("127.8.9.10", True, False),
    ("::1", True, False),
    ("::ffff:127.0.0.1", True, False),  # IPv4-mapped loopback
    ("10.1.2.3", True, True),
    ("172.16.0.1", True, True),
    ("192.168.0.1", True, True),
    ("::ffff:10.0.0.1", True, True),  # IPv4-mapped private
    ("::ffff:169.254.169.254", True, True),
    ("64:ff9b::a00:1", True, True),  # NAT64 of 10.0.0.1
    ("2002:a00:1::", True, True),  # 6to4 of 10.0.0.1
    ("169.254.169.254", True, True),  # cloud metadata, link-local
    ("fe80::1", True, True),
    ("fc00::1", True, True),  # unique local
    ("fd12:3456::1", True, True),
    ("224.0.0.1", True, True),
    ("ff02::1", True, True),
    ("0.0.0.0", True, True),
    ("::", True, True),
    ("240.0.0.1", True, True),  # reserved
    ("255.255.255.255", True, True),
    ("100.64.0.1", True, True),  # shared address space (carrier-grade NAT)
    ("192.0.2.1", True, True),  # documentation
    ("not-an-address", True, True),
]


@pytest.mark.parametrize(("address", "refused", "refused_with_loopback"), ADDRESSES)
def test_only_public_addresses_may_be_reached(
    address: str, refused: bool, refused_with_loopback: bool
) -> None:
    assert (address_refusal(address) is not None) is refused
    assert (address_refusal(address, allow_loopback=True) is not None) is refused_with_loopback


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as server:
        yield server


class ChangingResolver:
    """Answers the first lookup with `first`, every later one with `later`."""

    def __init__(self, first: list[str], later: list[str]) -> None:
        self.answers = [first, later]
        self.calls = 0

    def __call__(self, host: str) -> list[str]:
        self.calls += 1
        return self.answers[min(self.calls, 2) - 1]


async def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to(
    docs: DocumentServer,
) -> None:
    docs.serve("/client.json", {"hello": "world"})
    # a name server that answers loopback (allowed here) first, then a private address
    resolve = ChangingResolver(["127.0.0.1"], ["10.0.0.9"])
    fetcher = OutboundFetcher(resolve)
    url = f"http://documents.test:{docs.port}/client.json"
    fetched = await fetcher.get_json(url, allow_loopback_http=True, timeout=2)
    assert fetched.document == {"hello": "world"} and fetched.address == "127.0.0.1"
    assert resolve.calls == 1
    assert docs.hosts == [f"documents.test:{docs.port}"]  # the request still names the host


async def test_a_name_that_resolves_inward_is_refused_before_any_connection(
    docs: DocumentServer,
) -> None:
    docs.serve("/client.json", {"hello": "world"})
    for answer in (["10.0.0.9"], ["93.184.216.34", "169.254.169.254"], ["127.0.0.1"], []):
        fetcher = OutboundFetcher(ChangingResolver(answer, ["127.0.0.1"]))
        with pytest.raises(FetchRefused):
            await fetcher.get_json(f"https://documents.test:{docs.port}/client.json", timeout=2)
    assert docs.hits["/client.json"] == 0


async def test_plain_http_goes_to_loopback_only(docs: DocumentServer) -> None:
    docs.serve("/client.json", {"hello": "world"})
    fetcher = OutboundFetcher(ChangingResolver(["127.0.0.1"], ["127.0.0.1"]))
    with pytest.raises(FetchRefused, match="does not use https"):
        await fetcher.get_json(f"http://documents.test:{docs.port}/client.json", timeout=2)
    assert docs.hits["/client.json"] == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://app.example.org/oauth/client.json", None),
        ("https://app.example.org:8443/client?v=1", None),
        ("http://app.example.org/client.json", "must use https"),
        ("http://127.0.0.1:9000/client.json", None),  # with allow_loopback_http
        ("http://127.0.0.1/client.json", "must use https"),  # loopback needs its port
        ("https://app.example.org", "must have a path"),
        ("https://app.example.org/", "must have a path"),
        ("https://app.example.org/a/./b", ". or .. path segments"),
        ("https://app.example.org/client.json#x", "fragment"),
        ("https://u@app.example.org/client.json", "username or password"),
        ("https://app.example.org/" + "a" * 300, "longer than 255"),
        ("https://app.example.org/a b", "spaces"),
        ("https://evil.example.net/client.json", "not accepted from evil.example.net"),
        ("https://sub.app.example.org/client.json", None),
    ],
)
def test_which_urls_name_a_document(url: str, problem: str | None) -> None:
    found = document_url_problem(url, ("*.example.org",), allow_loopback_http=True)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        (None, 60),
        ("max-age=600", 600),
        ("public, max-age=3600", 3600),
        ("max-age=5", 60),
        ("max-age=9999999", 86400),
        ("no-store", 60),
        ("no-cache, max-age=600", 60),
        ("s-maxage=600", 60),
    ],
)
def test_documents_are_kept_for_their_max_age_within_bounds(
    cache_control: str | None, seconds: int
) -> None:
    assert cache_seconds(cache_control) == seconds
