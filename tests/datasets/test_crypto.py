from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from llmops.config import Settings
from llmops.datasets.crypto import (
    decrypt,
    encrypt,
    generate_master_key,
    key_id,
    load_master_key,
    new_data_key,
    unwrap_key,
    wrap_key,
)
from llmops.errors import IntegrityError, InvalidInput

ROW = {"messages": [{"role": "user", "content": "My SSN is 078-05-1120, call me"},
                    {"role": "assistant", "content": "Noted, Ms. Quokkaberg."}]}


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMOPS_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("LLMOPS_ENCRYPTION_KEY_FILE", raising=False)


def master() -> bytes:
    return load_master_key(Settings(encryption_key=generate_master_key()))


def test_envelope_round_trip_recovers_rows_and_hides_them() -> None:
    key = master()
    data_key = new_data_key()
    wrapped = wrap_key(key, data_key)
    plaintext = json.dumps(ROW).encode()
    blob = encrypt(data_key, plaintext, aad=b"version-01/chunk-0000")
    assert decrypt(unwrap_key(key, wrapped), blob, aad=b"version-01/chunk-0000") == plaintext
    assert plaintext not in blob and b"Quokkaberg" not in blob and b"078-05-1120" not in blob
    assert data_key not in wrapped.encode() and base64.urlsafe_b64encode(data_key) not in (
        wrapped.encode())
    assert wrapped.startswith(f"v1:{key_id(key)}:") and len(wrapped) == 92
    assert len(blob) == len(plaintext) + 29 and blob[0] == 1


def test_every_encryption_uses_a_fresh_nonce_and_every_version_a_fresh_key() -> None:
    data_key = new_data_key()
    assert encrypt(data_key, b"same row", aad=b"v") != encrypt(data_key, b"same row", aad=b"v")
    assert new_data_key() != data_key and len(data_key) == 32
    key = master()
    assert wrap_key(key, data_key) != wrap_key(key, data_key)
    assert decrypt(data_key, encrypt(data_key, b"", aad=b"v"), aad=b"v") == b""


def test_a_wrong_master_key_is_named_not_decrypted_into_garbage() -> None:
    right, wrong = master(), master()
    wrapped = wrap_key(right, new_data_key())
    with pytest.raises(InvalidInput) as caught:
        unwrap_key(wrong, wrapped)
    assert str(caught.value) == (
        f"wrong master key: the data key was wrapped with key id {key_id(right)}, but the "
        f"configured master key has key id {key_id(wrong)}; set "
        "LLMOPS_ENCRYPTION_KEY(_FILE) to the key it was encrypted with")


def test_a_missing_key_says_which_dataset_and_what_to_set() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_master_key(Settings(), dataset="support-chats")
    message = str(caught.value)
    assert message.startswith("dataset 'support-chats' is encrypted: set LLMOPS_ENCRYPTION_KEY "
                              "or LLMOPS_ENCRYPTION_KEY_FILE to its master key")
    assert "generate_master_key()" in message
    with pytest.raises(InvalidInput, match="^encryption at rest needs a key: set"):
        load_master_key(Settings())


def test_the_key_comes_from_the_environment_or_a_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    text = generate_master_key()
    expected = base64.urlsafe_b64decode(text)
    monkeypatch.setenv("LLMOPS_ENCRYPTION_KEY", text)
    assert load_master_key(Settings()) == expected
    monkeypatch.delenv("LLMOPS_ENCRYPTION_KEY")
    key_file = tmp_path / "master.key"
    key_file.write_text(text + "\n")
    monkeypatch.setenv("LLMOPS_ENCRYPTION_KEY_FILE", str(key_file))
    assert load_master_key(Settings()) == expected
    monkeypatch.setenv("LLMOPS_ENCRYPTION_KEY", text)
    with pytest.raises(InvalidInput, match="both LLMOPS_ENCRYPTION_KEY and "
                                           "LLMOPS_ENCRYPTION_KEY_FILE are set: keep only one"):
        load_master_key(Settings())


def test_standard_and_urlsafe_base64_with_or_without_padding_are_accepted() -> None:
    raw = bytes(range(200, 232))  # encodes with "+", "/" and "-", "_"
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
                 base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        assert load_master_key(Settings(encryption_key=text)) == raw


@pytest.mark.parametrize(("value", "expected"), [
    ("", "LLMOPS_ENCRYPTION_KEY is empty"),
    ("not base64 at all!", "LLMOPS_ENCRYPTION_KEY is not valid base64"),
    (base64.b64encode(b"k" * 16).decode(), "LLMOPS_ENCRYPTION_KEY decodes to 16 bytes, not 32"),
    (base64.b64encode(b"k" * 33).decode(), "LLMOPS_ENCRYPTION_KEY decodes to 33 bytes, not 32"),
    ("0123456789abcdef0123456789abcdef", "LLMOPS_ENCRYPTION_KEY decodes to 24 bytes"),
])
def test_malformed_keys_are_refused_without_echoing_them(value: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected) as caught:
        load_master_key(Settings(encryption_key=value))
    if value:
        assert value not in str(caught.value)


def test_an_unreadable_or_malformed_key_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(InvalidInput) as caught:
        load_master_key(Settings(encryption_key_file=missing), dataset="d")
    assert str(caught.value) == (f"dataset 'd' is encrypted, but LLMOPS_ENCRYPTION_KEY_FILE "
                                 f"({missing}) does not exist")
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(b"x" * 31).decode())
    with pytest.raises(InvalidInput, match=r"LLMOPS_ENCRYPTION_KEY_FILE \(.*short.key\) "
                                           "decodes to 31 bytes, not 32"):
        load_master_key(Settings(encryption_key_file=short))
    binary = tmp_path / "binary.key"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(InvalidInput, match="cannot be read: not text"):
        load_master_key(Settings(encryption_key_file=binary))


def test_a_tampered_chunk_fails_authentication() -> None:
    data_key = new_data_key()
    blob = bytearray(encrypt(data_key, json.dumps(ROW).encode(), aad=b"v1/c0"))
    for position in (1, 13, len(blob) // 2, len(blob) - 1):  # nonce, body, tag
        altered = bytearray(blob)
        altered[position] ^= 0x01
        with pytest.raises(IntegrityError, match="failed authentication: it was altered"):
            decrypt(data_key, bytes(altered), aad=b"v1/c0")
    with pytest.raises(IntegrityError, match="shorter than the 29 of an empty one"):
        decrypt(data_key, bytes(blob[:20]), aad=b"v1/c0")
    with pytest.raises(IntegrityError, match="format byte 0x02; this llmops reads 0x01"):
        decrypt(data_key, b"\x02" + bytes(blob[1:]), aad=b"v1/c0")


def test_a_chunk_cannot_move_to_another_version_or_key() -> None:
    data_key = new_data_key()
    blob = encrypt(data_key, b"row bytes", aad=b"version-A/chunk-0")
    with pytest.raises(IntegrityError, match="belongs to another dataset version"):
        decrypt(data_key, blob, aad=b"version-B/chunk-0")
    with pytest.raises(IntegrityError):
        decrypt(new_data_key(), blob, aad=b"version-A/chunk-0")


def test_a_tampered_wrapped_key_is_an_integrity_error() -> None:
    key = master()
    wrapped = wrap_key(key, new_data_key())
    prefix, payload = wrapped.rsplit(":", 1)
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    with pytest.raises(IntegrityError, match="failed authentication"):
        unwrap_key(key, f"{prefix}:{flipped}")
    with pytest.raises(IntegrityError, match="not 60: it was altered"):
        unwrap_key(key, f"{prefix}:{payload[:-8]}")
    with pytest.raises(IntegrityError, match="format 'v9'"):
        unwrap_key(key, "v9" + wrapped[2:])


def test_keys_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(InvalidInput, match="a data key must be 32 bytes"):
        encrypt(b"short", b"x", aad=b"")
    with pytest.raises(InvalidInput, match="the master key must be 32 bytes"):
        wrap_key(b"short", new_data_key())


def test_generated_master_keys_are_random_urlsafe_base64_of_32_bytes() -> None:
    first, second = generate_master_key(), generate_master_key()
    assert first != second and len(base64.urlsafe_b64decode(first)) == 32
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
