from __future__ import annotations

import pytest

from llmops.errors import InvalidInput
from llmops.refs import Ref, check_name, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dataset:travel-qa@3", Ref("dataset", "travel-qa", "3")),
        ("dataset:travel-qa@sha256:9f2c1e", Ref("dataset", "travel-qa", "sha256:9f2c1e")),
        ("dataset:travel-qa@3#test", Ref("dataset", "travel-qa", "3", "test")),
        ("prompt:travel-system@production", Ref("prompt", "travel-system", "production")),
        ("model:travel-assistant", Ref("model", "travel-assistant")),
        ("run:01JD3QABCDEF", Ref("run", "01JD3QABCDEF")),
    ],
)
def test_parse_ref_reads_every_form_of_the_syntax(text: str, expected: Ref) -> None:
    ref = parse_ref(text)
    assert ref == expected
    assert str(ref) == text


def test_bare_name_takes_the_default_kind() -> None:
    assert parse_ref("travel-qa@2", default_kind="dataset") == Ref("dataset", "travel-qa", "2")
    assert parse_ref("travel-qa@2", default_kind="dataset").version == 2


@pytest.mark.parametrize(
    "text",
    ["", "dataset:", "dataset:Travel", "dataset:a b", "dataset:../x", "dataset:x@",
     "dataset:x@UPPER", "run:../../etc", "run:x@1", "dataset:x#", "nokind", "x" * 400],
)
def test_parse_ref_refuses_malformed_references(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_ref(text)


@pytest.mark.parametrize("name", ["a", "travel-qa", "v1.2_final", "0" * 64])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "A", "a b", "../x", "a/b", "é", "a" * 65])
def test_invalid_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidInput, match=r"a-z, 0-9"):
        check_name(name)
