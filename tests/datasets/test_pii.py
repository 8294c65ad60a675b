from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict

import pytest

from llmops.datasets import pii
from llmops.datasets.pii import (
    DETECTORS,
    Finding,
    PhoneDetector,
    Redactor,
    Replacement,
    SecretDetector,
    register_detector,
    scan_text,
    summarize,
)
from llmops.errors import InvalidInput

# secret-shaped fixtures are assembled at run time so that no scanner mistakes this file
# for a leak; none of them is a real credential
ALNUM36 = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
SECRETS = {
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "github": "ghp" + "_" + ALNUM36,
    "github_fine_grained": "github" + "_pat_" + "11ABCDEFG0" + "x9Y8w7V6u5T4s3R2q1P0o9",
    "gitlab": "glpat" + "-" + "xY7zW3vU9tS1rQ5pO2nM",
    "slack": "xoxb" + "-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "openai": "sk-" + "proj-" + "abc123DEF456ghi789JKL012mno",
    "stripe": "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "google": "AIza" + "SyA1234567890abcdefghijklmnopqrstuv",
    "huggingface": "hf" + "_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567",
    "llmops": "llmops" + "_" + "Zx9Qm2Lr7Tb4Wc8Ye1Nh6Vk3Jp5Sd0FgAaBbCcDdEe1",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "."
           + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "pem": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA7b3x\nq9Zr1T\n"
           "-----END RSA " + "PRIVATE KEY-----",
    "slack_webhook": "https://hooks.slack.com/services/" + "T024BE7LD/B024BE7LH/"
                     + "bNgSd0X3l0XzqW2c1nB9nS4x",
    "high_entropy": "Zx9Qm2Lr7Tb4Wc8Ye1Nh6Vk3Jp5Sd0Fg",
}


@pytest.fixture
def registry() -> Iterator[dict[str, pii.Detector]]:
    saved = dict(DETECTORS)
    yield DETECTORS
    DETECTORS.clear()
    DETECTORS.update(saved)


def found(text: str, kind: str | None = None) -> list[tuple[str, str]]:
    return [(f.type, f.value) for f in scan_text(text, types=[kind] if kind else None)]


# --- detectors: true positives and true negatives ---------------------------------------

@pytest.mark.parametrize("address", ["alice.smith@example.com", "Bob+tag@mail.example.co.uk",
                                     "o'neil_2@sub-domain.example.org"])
def test_email_addresses_are_found(address: str) -> None:
    assert found(f"write to {address}, thanks", "email") == [("email", address.split("'")[-1])
                                                            if "'" in address else
                                                            ("email", address)]


@pytest.mark.parametrize("text", ["ping @alice on chat", "user@localhost", "a@b", "x @ y.com"])
def test_things_that_are_not_email_addresses(text: str) -> None:
    assert found(text, "email") == []


@pytest.mark.parametrize("number", ["(202) 456-1111", "202-456-1111", "202.456.1111",
                                    "+1 202 456 1111", "+44 20 7946 0958", "+49 30 901820",
                                    "+33 1 42 68 53 00"])
def test_phone_numbers_are_found(number: str) -> None:
    assert found(f"Call me at {number} tomorrow.", "phone") == [("phone", number)]


@pytest.mark.parametrize("text", [
    "upgrade to 1.2.3 then 10.15.7", "released 2024-01-15 and 12/31/2023",
    "pi is 3.14159265358", "at 10:30:45 on 2024.01.15", "hash abc2024561111def",
    "order 12345678 shipped", "ISBN 978-3-16-148410-0", "zip 94107-1234",
    "values 16 0 17 0 18 0 19 0", "bad area code 123-456-7890",
])
def test_versions_dates_decimals_and_ids_are_not_phones(text: str) -> None:
    assert found(text, "phone") == []


def test_the_phone_region_decides_numbers_without_a_plus() -> None:
    german = PhoneDetector("DE")
    assert [f.canonical for f in german("Ruf an: 030 901820")] == ["+4930901820"]
    assert list(PhoneDetector("US")("Ruf an: 030 901820")) == []
    with pytest.raises(InvalidInput, match="phone region 'XX' is not an ISO 3166 region"):
        PhoneDetector("XX")


@pytest.mark.parametrize("number", ["4111111111111111", "4111 1111 1111 1111",
                                    "5555-5555-5555-4444", "378282246310005",
                                    "3782 822463 10005", "6011111111111117"])
def test_card_numbers_passing_luhn_are_found(number: str) -> None:
    assert found(f"card: {number}.", "card") == [("card", number)]


@pytest.mark.parametrize("text", [
    "card 4111111111111112",                 # Luhn fails
    "card 4111 1111-1111 1111",              # mixed separators
    "id 1234567890123456789",                # snowflake-like: no network starts with 1
    "ts 1700000000000", "x = 0.4111111111111111", "phone 2024561111",
    "mc 5555555555554444555",                # Mastercard is 16 digits
])
def test_luhn_failures_and_other_numbers_are_not_cards(text: str) -> None:
    assert found(text, "card") == []


@pytest.mark.parametrize("iban", ["DE89370400440532013000", "DE89 3704 0044 0532 0130 00",
                                  "GB82 WEST 1234 5698 7654 32", "FR1420041010050500013M02606",
                                  "NO9386011117947"])
def test_ibans_with_a_valid_checksum_are_found(iban: str) -> None:
    assert found(f"pay to {iban} today", "iban") == [("iban", iban)]


def test_a_grouped_iban_followed_by_more_groups_is_cut_at_its_length() -> None:
    assert found("IBAN DE89 3704 0044 0532 0130 00 1234 ref", "iban") == [
        ("iban", "DE89 3704 0044 0532 0130 00")]


@pytest.mark.parametrize("text", ["DE89370400440532013001", "DE8937040044053201300",
                                  "XX89370400440532013000", "de89370400440532013000",
                                  "AB12 CDEF GHIJ KLMN"])
def test_bad_checksums_lengths_and_countries_are_not_ibans(text: str) -> None:
    assert found(text, "iban") == []


@pytest.mark.parametrize(("address", "canonical"), [
    ("192.168.1.10", "192.168.1.10"), ("203.0.113.7", "203.0.113.7"),
    ("2001:db8::ff00:42:8329", "2001:db8::ff00:42:8329"),
    ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
    ("::ffff:192.0.2.128", "192.0.2.128"), ("fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a"),
])
def test_ipv4_and_ipv6_addresses_are_found(address: str, canonical: str) -> None:
    assert [(f.value, f.canonical) for f in scan_text(f"from {address}.", types=["ip"])] == [
        (address, canonical)]


@pytest.mark.parametrize("text", [
    "999.1.1.1", "1.2.3.4.5", "v1.2.3.4", "version 1.2.3.4", "127.0.0.1", "::1", "0.0.0.0",
    "255.255.255.0", "224.0.0.251", "std::vector<int>", "at 12:30:45", "10.1.2", "3.14",
])
def test_invalid_local_and_version_like_addresses_are_not_ips(text: str) -> None:
    assert found(text, "ip") == []


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_known_secret_format_is_found(kind: str) -> None:
    assert found(f"config: {SECRETS[kind]} end", "secret") == [("secret", SECRETS[kind])]


@pytest.mark.parametrize(("text", "value"), [
    ("password=hunter22", "hunter22"), ('{"api_key": "s3cr3tValue"}', "s3cr3tValue"),
    ("client_secret: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
    ("Authorization: Bearer abcdef1234567890", "abcdef1234567890"),
    ("AWS_SECRET_ACCESS_KEY=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
])
def test_values_assigned_to_secret_names_are_found(text: str, value: str) -> None:
    assert found(text, "secret") == [("secret", value)]


@pytest.mark.parametrize("text", [
    "token = tokenizer.encode(text)", "max_tokens=1024", "password: ${DB_PASSWORD}",
    "api_key = os.environ.get", "the secret: is patience", "sk-learn is a typo",
    "prompt_tokens: 1234567",
])
def test_code_and_prose_near_secret_names_are_not_secrets(text: str) -> None:
    assert found(text, "secret") == []


@pytest.mark.parametrize("text", [
    "The quick brown fox jumps over the lazy dog while internationalization continues.",
    "Supercalifragilisticexpialidocious and Pneumonoultramicroscopicsilicovolcanoconiosis",
    f"sha256 {hashlib.sha256(b'data').hexdigest()} and commit "
    f"{hashlib.sha1(b'data').hexdigest()}",
    f"trace {uuid.UUID(int=0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0)} finished",
    "call getUserAccountBalance2024 from ThisIsAVeryLongClassName2",
    "load meta-llama/Llama-3.1-8B-Instruct or Qwen2.5-7B-Instruct-GPTQ-Int4",
    "see /Users/JohnSmith/Documents2024/report_final_v2 and Mean_Acc1298_Std_Mem40_MFCC_7",
    "image data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAA" * 40,
])
def test_words_identifiers_digests_and_payloads_are_not_secrets(text: str) -> None:
    assert found(text, "secret") == []


def test_random_tokens_are_high_entropy_and_structured_ones_are_not() -> None:
    detector = SecretDetector()
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    tokens = ["".join(rng.choice(alphabet) for _ in range(40)) for _ in range(200)]
    assert sum(map(detector.is_high_entropy, tokens)) >= 190
    assert not detector.is_high_entropy("aaaaaaaaaaBBBBBBBBBB1111111111")
    assert list(SecretDetector(entropy=False)(f"x {SECRETS['high_entropy']} y")) == []


# --- scan_text: overlaps, types, registry -----------------------------------------------

def test_overlaps_keep_the_longer_or_more_specific_finding() -> None:
    assert found("mail 4111111111111111@example.com") == [
        ("email", "4111111111111111@example.com")]
    assert found("mail 2024561111@example.com") == [("email", "2024561111@example.com")]
    assert found("card 4111 1111 1111 1111 and 202-456-1111") == [
        ("card", "4111 1111 1111 1111"), ("phone", "202-456-1111")]
    assert found("api_key=" + SECRETS["aws"]) == [("secret", SECRETS["aws"])]
    assert found("Bearer " + SECRETS["jwt"]) == [("secret", SECRETS["jwt"])]


def test_findings_are_sorted_and_typed() -> None:
    text = "Hi, I'm at bob@example.org or +1 202 456 1111; IBAN DE89370400440532013000; 10.0.0.7"
    findings = scan_text(text)
    assert [f.type for f in findings] == ["email", "phone", "iban", "ip"]
    assert all(text[f.start:f.end] == f.value for f in findings)
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    assert findings[1].canonical == "+12024561111"


def test_unknown_types_are_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown PII type.s. ssn; known: secret, iban, card, "
                                           "email, ip, phone"):
        scan_text("x", types=["ssn", "email"])


def test_custom_detectors_register_through_the_same_door(
        registry: dict[str, pii.Detector]) -> None:
    def detect_employee_ids(text: str) -> list[Finding]:
        return [Finding("employee_id", m.start(), m.end(), m.group())
                for m in re.finditer(r"EMP-\d{5}", text)]

    register_detector("employee_id", detect_employee_ids)
    assert found("badge EMP-12345 ok") == [("employee_id", "EMP-12345")]
    redacted, _ = Redactor().redact_row({"t": "EMP-12345 and EMP-12345"})
    assert redacted == {"t": "<EMPLOYEE_ID_1> and <EMPLOYEE_ID_1>"}
    with pytest.raises(InvalidInput, match="detector 'employee_id' is already registered"):
        register_detector("employee_id", detect_employee_ids)
    with pytest.raises(InvalidInput, match="use a lower-case identifier"):
        register_detector("Employee ID", detect_employee_ids)
    register_detector("phone", PhoneDetector("GB"), replace=True)
    assert list(DETECTORS)[:6] == ["secret", "iban", "card", "email", "ip", "phone"]
    assert found("ring 020 7946 0958", "phone") == [("phone", "020 7946 0958")]


# --- redaction --------------------------------------------------------------------------

def test_the_same_value_gets_the_same_placeholder_within_a_row() -> None:
    row = {"prompt": "Mail alice@example.com or ALICE@example.com, cc bob@example.com",
           "completion": "Sent to alice@example.com; call (202) 456-1111 / +1 202 456 1111"}
    redacted, _ = Redactor().redact_row(row)
    assert redacted == {
        "prompt": "Mail <EMAIL_1> or <EMAIL_1>, cc <EMAIL_2>",
        "completion": "Sent to <EMAIL_1>; call <PHONE_1> / <PHONE_1>",
    }


def test_numbering_restarts_with_each_row() -> None:
    redactor = Redactor()
    first, _ = redactor.redact_row({"t": "a@example.com b@example.com"})
    second, _ = redactor.redact_row({"t": "b@example.com"})
    assert first == {"t": "<EMAIL_1> <EMAIL_2>"} and second == {"t": "<EMAIL_1>"}


def test_nested_chat_rows_are_redacted_and_reported_by_field_path() -> None:
    row = {
        "id": 7,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "I am carol@example.com, card 4111 1111 1111 1111"},
            {"role": "assistant", "content": "Thanks carol@example.com, key " + SECRETS["aws"]},
        ],
        "meta": {"ip": "203.0.113.9", "tags": ["vip", "from 203.0.113.9"], "score": 0.5},
    }
    redacted, report = Redactor().redact_row(row)
    assert redacted == {
        "id": 7,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "I am <EMAIL_1>, card <CARD_1>"},
            {"role": "assistant", "content": "Thanks <EMAIL_1>, key <SECRET_1>"},
        ],
        "meta": {"ip": "<IP_1>", "tags": ["vip", "from <IP_1>"], "score": 0.5},
    }
    assert [asdict(r) for r in report] == [
        {"field": "messages.1.content", "type": "email", "placeholder": "<EMAIL_1>",
         "start": 5, "end": 22},
        {"field": "messages.1.content", "type": "card", "placeholder": "<CARD_1>",
         "start": 29, "end": 48},
        {"field": "messages.2.content", "type": "email", "placeholder": "<EMAIL_1>",
         "start": 7, "end": 24},
        {"field": "messages.2.content", "type": "secret", "placeholder": "<SECRET_1>",
         "start": 30, "end": 50},
        {"field": "meta.ip", "type": "ip", "placeholder": "<IP_1>", "start": 0, "end": 11},
        {"field": "meta.tags.1", "type": "ip", "placeholder": "<IP_1>", "start": 5, "end": 16},
    ]
    assert row["messages"][1]["content"].startswith("I am carol@")  # the input is untouched
    assert summarize(report) == {"card": 1, "email": 2, "ip": 2, "secret": 1}


def test_the_report_never_holds_the_raw_values() -> None:
    row = {"t": f"carol@example.com 4111111111111111 {SECRETS['openai']} DE89370400440532013000"}
    _, report = Redactor().redact_row(row)
    stored = json.dumps([asdict(r) for r in report])
    assert len(report) == 4 and set(asdict(report[0])) == {"field", "type", "placeholder",
                                                           "start", "end"}
    for raw in ("carol", "4111111111111111", SECRETS["openai"], "DE89370400440532013000"):
        assert raw not in stored


def test_a_redactor_can_be_limited_to_some_types() -> None:
    redacted, report = Redactor(types=["email"]).redact_row(
        {"t": "bob@example.com from 203.0.113.9"})
    assert redacted == {"t": "<EMAIL_1> from 203.0.113.9"}
    assert report == [Replacement("t", "email", "<EMAIL_1>", 0, 15)]
    assert Redactor().redact_text("call 202-456-1111") == (
        "call <PHONE_1>", [Replacement("", "phone", "<PHONE_1>", 5, 17)])


def test_summarize_counts_findings_per_type() -> None:
    findings = scan_text("a@example.com b@example.com 10.0.0.7")
    assert summarize(findings) == {"email": 2, "ip": 1}
    assert summarize([]) == {}


def test_many_chat_rows_redact_consistently() -> None:
    # a throughput sanity check without a clock: the work is done, the answers are right
    rng = random.Random(3)
    filler = "Please help me rewrite this paragraph about quarterly planning in plain words. "
    redactor = Redactor()
    total = 0
    for i in range(500):
        extra = rng.choice(["", f" mail me at user{i}@example.com", " version 3.11.4",
                            " call 202-456-1111"])
        row = {"messages": [{"role": "user", "content": filler * 4 + extra},
                            {"role": "assistant", "content": filler * 8}]}
        redacted, report = redactor.redact_row(row)
        total += len(report)
        assert len(report) == (0 if extra in ("", " version 3.11.4") else 1)
        assert "@" not in json.dumps(redacted) and "456-1111" not in json.dumps(redacted)
    assert total > 100
