"""Encryption at rest for sensitive datasets: AES-256-GCM with envelope keys.

Each dataset version gets a fresh random 32-byte data key. Its chunks are sealed with
that key (`encrypt`/`decrypt`); the data key itself is stored only wrapped (`wrap_key`)
by the master key from ``LLMOPS_ENCRYPTION_KEY`` or ``LLMOPS_ENCRYPTION_KEY_FILE``
(`load_master_key`), which llmops never stores. Rotating the master key means re-wrapping
the small data keys, not re-encrypting the data.

Formats (all AES-256-GCM, `cryptography`'s `AESGCM`; a random 96-bit nonce per message):

- wrapped data key, text: ``v1:<key id>:<urlsafe base64(nonce || ciphertext+tag)>``. The
  key id is the first 4 bytes of sha256(master key), hex: it names which master key
  wrapped the data key, so a wrong key fails with a clear error, and it reveals nothing
  usable about a 256-bit key. GCM rather than RFC 3394 key wrap: one primitive for both
  layers, and the associated data separates wrapped keys from chunks.
- encrypted chunk, bytes: ``0x01 || nonce (12) || ciphertext || tag (16)``. The caller's
  `aad` (e.g. the dataset version id and chunk name) is authenticated with the version
  byte, so a chunk moved to another version, or altered, fails to decrypt.

Random nonces are safe for far more chunks than a version has (NIST's bound is 2**32
messages per key); each chunk must be under 2 GiB, `AESGCM`'s limit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llmops.config import Settings
from llmops.errors import IntegrityError, InvalidInput

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
CHUNK_VERSION = b"\x01"
WRAP_VERSION = "v1"
MAX_CHUNK_BYTES = 2**31 - 1 - TAG_BYTES
_WRAP_AAD = b"llmops:data-key:v1"
_HINT = ("32 random bytes in base64; make one with `python -c \"from llmops.datasets.crypto "
         "import generate_master_key; print(generate_master_key())\"`")


def generate_master_key() -> str:
    """A new random master key, as URL-safe base64 for ``LLMOPS_ENCRYPTION_KEY``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def new_data_key() -> bytes:
    """A fresh random 32-byte data key, for one dataset version."""
    return secrets.token_bytes(KEY_BYTES)


def key_id(master: bytes) -> str:
    """The short public name of a master key: first 4 bytes of its sha256, hex."""
    return hashlib.sha256(master).hexdigest()[:8]


def _decode_key(text: str, source: str) -> bytes:
    """Decode a base64 (standard or URL-safe, padding optional) 32-byte key."""
    compact = "".join(text.split())
    if not compact:
        raise InvalidInput(f"{source} is empty: it must hold the master key, {_HINT}")
    normalized = compact.replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    try:
        key = base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        # never echo the value: it may be a real key with a typo
        raise InvalidInput(f"{source} is not valid base64: it must be {_HINT}") from None
    if len(key) != KEY_BYTES:
        raise InvalidInput(f"{source} decodes to {len(key)} bytes, not {KEY_BYTES}: "
                           f"it must be {_HINT}")
    return key


def load_master_key(settings: Settings, *, dataset: str | None = None) -> bytes:
    """Read the master key from ``LLMOPS_ENCRYPTION_KEY`` or ``LLMOPS_ENCRYPTION_KEY_FILE``.

    Args:
        settings: Where `encryption_key` / `encryption_key_file` come from.
        dataset: Name of the dataset that needs the key, for the error message.

    Returns:
        The 32-byte master key.

    Raises:
        InvalidInput: Neither or both are set, the file cannot be read, or the key is not
            base64 of 32 bytes. The message never contains the key.
    """
    needs = f"dataset {dataset!r} is encrypted" if dataset else "encryption at rest needs a key"
    if settings.encryption_key is not None and settings.encryption_key_file is not None:
        raise InvalidInput(f"{needs}, and both LLMOPS_ENCRYPTION_KEY and "
                           "LLMOPS_ENCRYPTION_KEY_FILE are set: keep only one")
    if settings.encryption_key is not None:
        return _decode_key(settings.encryption_key.get_secret_value(), "LLMOPS_ENCRYPTION_KEY")
    path = settings.encryption_key_file
    if path is None:
        raise InvalidInput(f"{needs}: set LLMOPS_ENCRYPTION_KEY or LLMOPS_ENCRYPTION_KEY_FILE "
                           f"to its master key ({_HINT})")
    source = f"LLMOPS_ENCRYPTION_KEY_FILE ({path})"
    try:
        text = path.expanduser().read_text(encoding="ascii")
    except FileNotFoundError:
        raise InvalidInput(f"{needs}, but {source} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise InvalidInput(f"{needs}, but {source} cannot be read: {reason}") from None
    return _decode_key(text, source)


def _check_key(key: bytes, what: str) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise InvalidInput(f"{what} must be {KEY_BYTES} bytes")


def wrap_key(master: bytes, data_key: bytes) -> str:
    """Encrypt a data key with the master key, as compact text to store with the version.

    Args:
        master: The 32-byte master key (`load_master_key`).
        data_key: The 32-byte data key (`new_data_key`).

    Returns:
        ``v1:<key id>:<base64>``, 92 characters.
    """
    _check_key(master, "the master key")
    _check_key(data_key, "a data key")
    kid = key_id(master)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(master).encrypt(nonce, data_key, _WRAP_AAD + kid.encode())
    return f"{WRAP_VERSION}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unwrap_key(master: bytes, wrapped: str) -> bytes:
    """Recover a data key that `wrap_key` wrapped.

    Args:
        master: The 32-byte master key.
        wrapped: The text `wrap_key` returned.

    Returns:
        The 32-byte data key.

    Raises:
        InvalidInput: `master` is not the key the data key was wrapped with.
        IntegrityError: The wrapped text is malformed or was altered.
    """
    _check_key(master, "the master key")
    version, _, rest = wrapped.partition(":")
    kid, _, payload = rest.partition(":")
    if version != WRAP_VERSION:
        raise IntegrityError(f"wrapped data key has format {version[:8]!r}; this llmops reads "
                             f"{WRAP_VERSION!r}")
    if kid != key_id(master):
        raise InvalidInput(f"wrong master key: the data key was wrapped with key id {kid}, "
                           f"but the configured master key has key id {key_id(master)}; set "
                           "LLMOPS_ENCRYPTION_KEY(_FILE) to the key it was encrypted with")
    try:
        raw = base64.urlsafe_b64decode(payload.encode("ascii"))
    except (binascii.Error, ValueError):
        raise IntegrityError("wrapped data key is not valid base64: it was altered") from None
    if len(raw) != NONCE_BYTES + KEY_BYTES + TAG_BYTES:
        raise IntegrityError(f"wrapped data key is {len(raw)} bytes, not "
                             f"{NONCE_BYTES + KEY_BYTES + TAG_BYTES}: it was altered")
    try:
        return AESGCM(master).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                      _WRAP_AAD + kid.encode())
    except InvalidTag:
        raise IntegrityError("wrapped data key failed authentication: it was altered "
                             "(its key id matches the master key)") from None


def encrypt(data_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Seal one chunk with a data key.

    Args:
        data_key: The version's 32-byte data key.
        plaintext: The chunk, under 2 GiB.
        aad: What the chunk belongs to, e.g. ``b"<version id>/<chunk name>"``; the same
            bytes are needed to decrypt, so a chunk cannot be moved between versions.

    Returns:
        ``0x01 || nonce || ciphertext || tag``: 29 bytes longer than `plaintext`.
    """
    _check_key(data_key, "a data key")
    if len(plaintext) > MAX_CHUNK_BYTES:
        raise InvalidInput(f"a chunk of {len(plaintext)} bytes is over the {MAX_CHUNK_BYTES} "
                           "bytes AES-GCM seals at once; write smaller chunks")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return CHUNK_VERSION + nonce + AESGCM(data_key).encrypt(nonce, plaintext,
                                                            CHUNK_VERSION + aad)


def decrypt(data_key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Open a chunk sealed by `encrypt`.

    Args:
        data_key: The version's 32-byte data key.
        blob: What `encrypt` returned.
        aad: The same associated data `encrypt` was given.

    Returns:
        The plaintext.

    Raises:
        IntegrityError: The blob was altered or truncated, belongs to another version
            (different `aad`), or was sealed with another data key.
    """
    _check_key(data_key, "a data key")
    header = 1 + NONCE_BYTES
    if len(blob) < header + TAG_BYTES:
        raise IntegrityError(f"encrypted chunk is {len(blob)} bytes, shorter than the "
                             f"{header + TAG_BYTES} of an empty one: it was truncated")
    if blob[:1] != CHUNK_VERSION:
        raise IntegrityError(f"encrypted chunk has format byte {blob[0]:#04x}; this llmops "
                             f"reads {CHUNK_VERSION[0]:#04x}")
    try:
        return AESGCM(data_key).decrypt(blob[1:header], blob[header:], CHUNK_VERSION + aad)
    except InvalidTag:
        raise IntegrityError("encrypted chunk failed authentication: it was altered, belongs "
                             "to another dataset version, or the data key is wrong") from None
