"""The built-in PII detectors; `llmops.datasets.pii` registers and runs them.

What the built-in detectors flag, and what they deliberately do not:

- ``email``: ``local@domain.tld``, compared case-insensitively. Not bare ``@handles``.
- ``phone``: what `phonenumbers` (leniency VALID) accepts: numbers valid for the region
  (default "US") and valid international numbers written with ``+``. Only runs with 7+
  digits are examined. Not version numbers, dates, times, ZIP+4, ISBNs, decimals
  (``181.93835853``), digits glued to letters (``abc8005001234def``), or numbers
  invalid for their country. A bare 10-digit number that is a valid US number (also
  ``2147483648``) *is* flagged: nothing tells it apart from ``2024561111``.
- ``card``: 13-19 digits, contiguous or grouped 4-4-4-4(-3) / 4-6-5 / 4-6-4 by one
  consistent space or dash, with a major network's prefix and length (Visa, Mastercard,
  Amex, Diners, JCB, Discover, UnionPay, Maestro) and a valid Luhn checksum. Not Luhn
  failures, decimals, or ids outside those prefixes (ms timestamps, snowflake ids).
- ``iban``: upper-case IBANs, contiguous or in groups of four, with their ISO 13616
  country's length and a valid mod-97 checksum. Not checksum failures, lower case.
- ``ip``: IPv4 and IPv6 addresses that `ipaddress` accepts, private ranges included
  (they reveal network topology). Not loopback, unspecified (``0.0.0.0``, ``::``),
  multicast or reserved addresses (netmasks like ``255.255.255.0``), not ``999.1.1.1``,
  not ``v1.2.3.4`` (a letter or dot right before), and not four single digits
  (``1.2.3.4``: version numbers far outnumber hosts like ``8.8.8.8``, a public resolver).
- ``secret``: known credential formats (AWS ``AKIA...``, GitHub ``ghp_``/``github_pat_``,
  GitLab ``glpat-``, Slack ``xox[baprs]-`` and webhook URLs, OpenAI/Anthropic ``sk-...``
  with a digit, Stripe ``sk_live_``/``rk_test_``..., Google ``AIza...``, Hugging Face
  ``hf_``, llmops ``llmops_`` keys, JWTs, PEM/PGP private keys); the value after
  ``password=``, ``api_key:``, ``client_secret=``, ``Bearer`` ... when it mixes letters and
  digits (``password=hunter22``, not ``token = tokenizer.encode``); and high-entropy
  tokens: 20-512 characters of base64/base64url mixing upper case, lower case and digits
  that switch character class often, are not mostly word-like runs, and reach a
  length-scaled Shannon entropy (see `SecretDetector`). Not pure hex (sha256 and git
  digests, UUIDs and hex ids are identifiers in traces and code, not credentials; a hex
  key is caught only after ``api_key=`` and the like), not words, CamelCase or
  snake_case identifiers, paths and URLs, model names, and not runs over 512 characters
  (inline base64 images and files).

Redaction reports (`Replacement`) hold the field path, type, placeholder and offsets,
never the raw value: they are stored with the dataset, which must not leak what it hides.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise

import phonenumbers

from llmops.errors import InvalidInput


@dataclass(frozen=True)
class Finding:
    """One detected span of `text[start:end]`.

    Attributes:
        type: The detector's type, e.g. "email".
        start: Offset of the first character.
        end: Offset one past the last character.
        value: The raw matched text; keep it in memory only.
        canonical: A normal form, so that ``(202) 456-1111`` and ``+1 202 456 1111`` get
            the same placeholder; empty means `value`.
    """

    type: str
    start: int
    end: int
    value: str
    canonical: str = ""

    @property
    def key(self) -> str:
        return self.canonical or self.value


Detector = Callable[[str], Iterable[Finding]]
"""Finds one kind of PII in a text; may return overlapping spans (`scan_text` resolves)."""


def _digit_count(text: str) -> int:
    # ten C-level scans beat a Python loop or a regex findall by a wide margin
    return sum(map(text.count, "0123456789"))


# --- e-mail -----------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w%+-]+(?:\.[\w%+-]+)*@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}"
    r"(?![\w-])"
)


def detect_emails(text: str) -> Iterator[Finding]:
    """Find e-mail addresses; the canonical form is lower case."""
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        yield Finding("email", m.start(), m.end(), m.group(), m.group().lower())


# --- phone ------------------------------------------------------------------------------

# a run of digits and phone punctuation; only runs with 7+ digits go to phonenumbers,
# which is pure Python and far slower than this scan
_PHONE_RUN = re.compile(r"[+(]?\d[\d \t().\-/]*\d(?:[ \t]*(?:ext\.?|x)[ \t]*\d{1,6})?", re.I)
# dots in a phone number separate its groups, as in 202.456.1111; else it is a decimal
_DOTTED_PHONE = re.compile(r"\+?\d{1,4}(?:\.\d{2,4}){2,4}")
_DIGIT_GROUP = re.compile(r"\d+")
# the matcher may take "14159265358" out of "3.14159265358": digits around a decimal mark
_NUMERIC_BEFORE = re.compile(r"\d[.,]")
_NUMERIC_AFTER = re.compile(r"[.,]\d")


def _looks_like_phone(raw: str) -> bool:
    """Reject what phonenumbers accepts in code and tables: decimals, number lists."""
    if "." in raw and not _DOTTED_PHONE.fullmatch(raw):
        return False
    if raw[0] in "([" and ")" not in raw:
        return False  # "(2354873452, ..." opens a tuple or list, not an area code
    # a national number has at most 4 groups (202 456 1111 ext 5); "16 0 17 0 18" is data
    return raw[0] == "+" or len(_DIGIT_GROUP.findall(raw)) <= 4


class PhoneDetector:
    """Find phone numbers with `phonenumbers.PhoneNumberMatcher`.

    Args:
        region: Region for numbers written without ``+`` (ISO 3166 alpha-2, e.g. "US").
            Numbers written with ``+`` are found whatever the region.
        leniency: A `phonenumbers.Leniency`; VALID accepts numbers valid for their region.
    """

    def __init__(self, region: str = "US",
                 leniency: int = phonenumbers.Leniency.VALID) -> None:
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(f"phone region {region!r} is not an ISO 3166 region "
                               "phonenumbers knows, e.g. 'US', 'GB', 'DE'")
        self.region = region
        self.leniency = leniency
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        general = metadata.general_desc if metadata else None
        lengths = general.possible_length if general else ()
        # a number without "+" needs a full national number: 10 digits in the US
        self._min_national = max(7, min(lengths, default=7))

    def __call__(self, text: str) -> Iterator[Finding]:
        if _digit_count(text) < 7:
            return
        for run in _PHONE_RUN.finditer(text):
            digits = _digit_count(run.group())
            if digits < 7 or (digits < self._min_national and run.group()[0] != "+"):
                continue
            # one character of context each side: the matcher rejects digits glued to letters
            lo, hi = max(run.start() - 1, 0), min(run.end() + 1, len(text))
            for m in phonenumbers.PhoneNumberMatcher(text[lo:hi], self.region,
                                                     leniency=self.leniency):
                start, end = lo + m.start, lo + m.end
                if (not _looks_like_phone(m.raw_string)
                        or _NUMERIC_BEFORE.fullmatch(text, max(start - 2, 0), start)
                        or _NUMERIC_AFTER.match(text, end)):
                    continue
                e164 = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
                yield Finding("phone", start, end, m.raw_string, e164)


# --- payment card -----------------------------------------------------------------------

_CARD = re.compile(
    r"(?<![\w.,-])[2-6](?:\d{12,18}"
    r"|\d{3}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{4}(?:(?P=s1)\d{3})?"
    r"|\d{3}(?P<s2>[ -])\d{6}(?P=s2)\d{4,5})"
    r"(?![\w]|[.,-]\d)"
)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network_valid(digits: str) -> bool:
    """Whether a number has the prefix (IIN) and length of a major card network."""
    n, p2, p3, p4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":                                      # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:                  # Mastercard
        return n == 16
    if p2 in (34, 37):                                        # American Express
        return n == 15
    if p2 in (36, 38, 39) or 300 <= p3 <= 305 or p4 == 3095:  # Diners Club
        return n in (14, 16)
    if (3528 <= p4 <= 3589 or p4 == 6011 or 644 <= p3 <= 649  # JCB, Discover,
            or p2 in (50, 56, 57, 58, 62, 63, 65, 67)):       # UnionPay, Maestro
        return 16 <= n <= 19
    return False


def detect_cards(text: str) -> Iterator[Finding]:
    """Find payment card numbers (13-19 digits, major-network prefix and length, Luhn)."""
    if _digit_count(text) < 13:
        return
    for m in _CARD.finditer(text):
        digits = m.group().replace(" ", "").replace("-", "")
        if card_network_valid(digits) and luhn_valid(digits):
            yield Finding("card", m.start(), m.end(), m.group(), digits)


# --- IBAN -------------------------------------------------------------------------------

# ISO 13616 registry (SWIFT), country -> total IBAN length
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}

_IBAN = re.compile(
    r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?!\w)")


def iban_valid(compact: str) -> bool:
    """Whether an IBAN without spaces has its country's length and a valid mod-97 checksum."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def detect_ibans(text: str) -> Iterator[Finding]:
    """Find IBANs; a grouped IBAN followed by more groups is cut at its country's length."""
    for m in _IBAN.finditer(text):
        raw = m.group()
        length = IBAN_LENGTHS.get(raw[:2])
        if length is None:
            continue
        seen, cut = 0, len(raw)
        for i, ch in enumerate(raw):
            seen += ch != " "
            if seen == length:
                cut = i + 1
                break
        compact = raw[:cut].replace(" ", "")
        if iban_valid(compact):
            yield Finding("iban", m.start(), m.start() + cut, raw[:cut], compact)


# --- IP address -------------------------------------------------------------------------

_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})"
    r"(?![\w:])"
)


def _ip_finding(m: re.Match[str]) -> Finding | None:
    raw = m.group()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:192.0.2.1 is judged as 192.0.2.1
        raw = str(address)
    if address.is_loopback or address.is_unspecified or address.is_multicast \
            or address.is_reserved:
        return None
    if address.version == 4 and len(raw) == 7:
        return None  # 1.2.3.4, 7.4.7.1: version numbers outnumber hosts like 8.8.8.8
    return Finding("ip", m.start(), m.end(), m.group(), address.compressed)


def detect_ips(text: str) -> Iterator[Finding]:
    """Find IPv4 and IPv6 addresses that identify a host (see the module docstring)."""
    if "." in text:
        for m in _IPV4.finditer(text):
            if (found := _ip_finding(m)) is not None:
                yield found
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            if (found := _ip_finding(m)) is not None:
                yield found


# --- secrets ----------------------------------------------------------------------------

_B = r"(?<![\w-])"  # a token starts here
_E = r"(?![\w-])"   # and ends here
# (markers, pattern): a pattern runs only on texts containing one of its markers; one
# alternation of all of them would cost ~10x more on ordinary text
_KNOWN_SECRETS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("AKIA", "ASIA", "ABIA", "ACCA"),
     re.compile(rf"{_B}(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{{16}}{_E}")),   # AWS access key id
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
     re.compile(rf"{_B}gh[pousr]_[A-Za-z0-9]{{36,255}}{_E}")),         # GitHub tokens
    (("github_pat_",), re.compile(rf"{_B}github_pat_[A-Za-z0-9_]{{22,255}}{_E}")),
    (("glpat-",), re.compile(rf"{_B}glpat-[A-Za-z0-9_-]{{20,}}{_E}")),  # GitLab
    (("xox",), re.compile(rf"{_B}xox[baprs]-[A-Za-z0-9-]{{10,}}{_E}")),  # Slack
    (("hooks.slack.com/",),
     re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+")),
    (("sk-",), re.compile(rf"{_B}sk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{{20,}}{_E}")),  # OpenAI..
    (("sk_", "rk_"), re.compile(rf"{_B}(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{{16,}}{_E}")),
    (("AIza",), re.compile(rf"{_B}AIza[0-9A-Za-z_-]{{35}}{_E}")),      # Google API key
    (("hf_",), re.compile(rf"{_B}hf_[A-Za-z0-9]{{30,}}{_E}")),          # Hugging Face
    (("llmops_",), re.compile(rf"{_B}llmops_[A-Za-z0-9_-]{{43}}{_E}")),  # llmops API key
    (("eyJ",), re.compile(rf"{_B}eyJ[A-Za-z0-9_-]{{8,}}\.eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]*")),
    (("PRIVATE KEY",), re.compile(                                     # PEM/PGP private key
        r"-----BEGIN (?P<pem>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
        r"(?:[\s\S]{0,8192}?-----END (?P=pem)-----)?")),
]
_ASSIGNMENT_MARKERS = ("key", "secret", "token", "pass", "pwd", "bearer")
_ASSIGNED_SECRET = re.compile(
    r"(?i)(?:(?<![a-z0-9])(?:[a-z0-9]+[_-])*(?:api[_-]?key|secret|token|password|passwd|pwd"
    r"|access[_-]?key|private[_-]?key)[\"']?\s*[:=]\s*[\"']?|\bbearer\s+)"
    r"(?P<value>[^\s\"'`,;()\[\]{}<>#$%&*][^\s\"'`,;()\[\]{}<>]{5,})"
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"[0-9a-fA-F-]+")
_HEX_SEGMENT = re.compile(r"(?:(?<=[/_-])|^)[0-9a-fA-F]{8,}(?=[/_-]|$)")
_SEPARATOR = re.compile(r"[/_-]")
_WORDISH = re.compile(r"[A-Z][a-z]{2,}|[a-z]{4,}")
_HAS_LETTER_AND_DIGIT = re.compile(r"(?=.*[A-Za-z])(?=.*\d)", re.S)
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")  # token = base64.b64decode


def shannon_entropy(token: str) -> float:
    """Bits per character of `token`'s character distribution."""
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values())


def _has_upper_lower_digit(token: str) -> bool:
    return (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token))


def _class_switch_rate(token: str) -> float:
    kinds = ["u" if c.isupper() else "l" if c.islower() else "d" for c in token if c.isalnum()]
    switches = sum(a != b for a, b in pairwise(kinds))
    return switches / max(len(kinds) - 1, 1)


class SecretDetector:
    """Find credentials: known formats, assigned values and high-entropy tokens.

    The entropy rule was tuned on the ~1,000 mixed-case-and-digit tokens of 20+ characters
    in a Python environment's sources (identifiers, paths, URLs, test data): it flags 17,
    nearly all of them really random strings (test keys, base64 data); it flags ~91% of
    random 20-character base62/base64 tokens and ~97% of 32-character ones.

    Args:
        entropy: Also flag unknown high-entropy tokens (the noisiest rule).
        min_length: Shortest token the entropy rule considers.
        max_length: Longest one; longer runs are taken for inline data (base64 images).
        min_switch_rate: Share of neighbouring alphanumerics of different class (upper,
            lower, digit) a token needs; random base62 averages 0.62, identifiers ~0.2.
        max_word_share: Largest share of a token in word-like runs (``Word``, ``word``);
            random text has ~0.2, CamelCase identifiers 0.7+.
    """

    def __init__(self, *, entropy: bool = True, min_length: int = 20, max_length: int = 512,
                 min_switch_rate: float = 0.35, max_word_share: float = 0.6) -> None:
        self.entropy = entropy
        self.min_length = min_length
        self.max_length = max_length
        self.min_switch_rate = min_switch_rate
        self.max_word_share = max_word_share

    @staticmethod
    def entropy_threshold(length: int) -> float:
        """Entropy a token of `length` needs: ~1st percentile of random base62 strings."""
        return min(0.84 * math.log2(length), 4.5)

    def is_high_entropy(self, token: str) -> bool:
        """Whether `token` looks like a random credential rather than text or an id."""
        core = token.rstrip("=")
        n = len(core)
        if not self.min_length <= n <= self.max_length or _HEX.fullmatch(core):
            return False
        if "/" in core and ("-" in core or "_" in core):
            return False  # neither base64 nor base64url: a path or URL
        # hex segments (commit ids in URLs, digests in names) say nothing about the rest
        core = _HEX_SEGMENT.sub("", core)
        if not _has_upper_lower_digit(core):
            return False
        if len(_SEPARATOR.findall(core)) > max(2, n / 10):
            return False  # random base64url has a separator per ~32 characters
        if _class_switch_rate(core) < self.min_switch_rate:
            return False
        if sum(map(len, _WORDISH.findall(core))) >= self.max_word_share * len(core):
            return False
        return shannon_entropy(core) >= self.entropy_threshold(n)

    def __call__(self, text: str) -> Iterator[Finding]:
        for markers, pattern in _KNOWN_SECRETS:
            for marker in markers:
                if marker in text:
                    for m in pattern.finditer(text):
                        yield Finding("secret", m.start(), m.end(), m.group())
                    break
        lowered = text.lower()
        if any(marker in lowered for marker in _ASSIGNMENT_MARKERS):
            for m in _ASSIGNED_SECRET.finditer(text):
                value = m.group("value").rstrip(".")
                if _HAS_LETTER_AND_DIGIT.match(value) and not _DOTTED_NAME.fullmatch(value):
                    start = m.start("value")
                    yield Finding("secret", start, start + len(value), value)
        if self.entropy:
            for m in _TOKEN.finditer(text):
                if self.is_high_entropy(m.group()):
                    yield Finding("secret", m.start(), m.end(), m.group())
