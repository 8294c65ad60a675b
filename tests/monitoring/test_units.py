"""The small pieces: refusal phrases, dataset rows as traffic, allowed hosts, the tests."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from llmops.config import Settings
from llmops.monitoring import stats
from llmops.monitoring.refusals import is_refusal
from llmops.monitoring.samples import row_pair
from llmops.monitoring.webhooks import AllowedHosts, WebhookRefused, check_webhook


@pytest.mark.parametrize("text", [
    "I'm sorry, but I can't help with that.", "I cannot help with creating malware.",
    "As an AI language model, I don't have opinions.", "I am unable to provide that.",
    "I won't assist with that request.",
    "I must decline to answer.", "I’m sorry, but I cannot do that."])
def test_refusals_are_detected(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "Lisbon is lovely in spring.", "You can't miss the castle; I can help you book it.",
    None, "", "x" * 400 + " I'm sorry, but I can't help with that."])
def test_answers_are_not_refusals(text: str | None) -> None:
    assert not is_refusal(text)


@pytest.mark.parametrize(("row", "pair"), [
    ({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                   {"role": "assistant", "content": "A"}]}, ("Q", "A")),
    ({"messages": [{"role": "user", "content": "Q"}]}, ("Q", None)),
    ({"prompt": "Q", "response": "A"}, ("Q", "A")),
    ({"instruction": "Do", "input": "this", "output": "done"}, ("Do\nthis", "done")),
    ({"prompt": "Q", "chosen": "good", "rejected": "bad"}, ("Q", "good")),
    ({"input": "Q", "reference": "R"}, ("Q", "R")),
    ({"text": "T"}, ("T", None)),
])
def test_dataset_rows_read_as_traffic(row: dict[str, object],
                                      pair: tuple[str, str | None]) -> None:
    assert row_pair(row) == pair


def test_allowed_hosts_names_suffixes_and_networks() -> None:
    allowed = AllowedHosts.parse("hooks.example.com, *.corp.example, 10.20.0.0/16,fd00::/8")
    assert allowed is not None
    assert allowed.lists_host("hooks.example.com") and allowed.lists_host("HOOKS.example.com.")
    assert allowed.lists_host("a.b.corp.example") and not allowed.lists_host("corp.example")
    assert allowed.lists_host("10.20.1.1") and not allowed.lists_host("10.21.1.1")
    assert allowed.lists_address(ipaddress.ip_address("fd00::5"))
    assert AllowedHosts.parse(" ") is None and AllowedHosts.parse(None) is None


def test_an_unresolvable_host_passes_creation_but_not_delivery() -> None:
    settings = Settings(webhook_allowed_hosts="hooks.example.com")

    def nowhere(host: str) -> list[ipaddress.IPv4Address]:
        raise OSError("Name or service not known")

    check_webhook("https://hooks.example.com/x", settings, resolver=nowhere)
    with pytest.raises(WebhookRefused, match="webhook host 'hooks.example.com' does not "
                                             "resolve"):
        check_webhook("https://hooks.example.com/x", settings, resolver=nowhere,
                      unresolved_ok=False)


def test_a_name_resolving_to_loopback_is_allowed_unlisted() -> None:
    settings = Settings(webhook_allowed_hosts="hooks.example.com")
    check_webhook("http://localhost:9/x", settings,
                  resolver=lambda host: [ipaddress.ip_address("127.0.0.1")])


def test_mmd_tells_apart_shifted_vectors_and_not_the_same() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (80, 8)), rng.normal(0, 1, (80, 8))
    _, p_same = stats.mmd_permutation(a, b, permutations=200)
    _, p_shift = stats.mmd_permutation(a, b + 0.8, permutations=200)
    assert p_same > 0.05 and p_shift < 0.01


def test_two_proportions_and_poisson() -> None:
    z, p = stats.two_proportions(30, 100, 10, 100)
    assert z > 0 and p < 0.01
    _, one_sided = stats.two_proportions(30, 100, 10, 100, alternative="greater")
    assert one_sided == pytest.approx(p / 2)
    assert stats.two_proportions(0, 10, 0, 10) == (0.0, 1.0)
    assert stats.poisson_excess(60, 2.0) < 1e-20 and stats.poisson_excess(2, 2.0) > 0.5
