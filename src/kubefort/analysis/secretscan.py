"""Secret detection shared by the KF-SEC rules, the live-cluster scan and the admission webhook.

**Contract: nothing here returns, logs or raises with a secret value.** Callers get *labels* (which
detector fired: ``"sensitive name"``, ``"AWS access key"``, ``"Base64 High Entropy String"``...)
and the *names* of keys, variables and flags, which are not secret. Exceptions from decoding
(base64, JSON) are swallowed, because some of them quote their input.

Detection has three layers, cheapest first:

1. Names: the catalogue's sensitive-name patterns (KF-SEC-001), matched case-insensitively, minus
   names that only *describe* a secret (``DB_PASSWORD_FILE``, ``TOKEN_URL``, ``secretName``,
   ``JWT_PUBLIC_KEY``: a name segment in :data:`NON_SECRET_SEGMENTS`).
2. Kubernetes-specific credential patterns from the catalogue (PEM private key header, ``AKIA...``,
   ``ghp_``/``github_pat_``, ``xox[baprs]-``, ``AIza...``, JWT) plus ``Bearer``/``Basic``
   authorization values, compiled once.
3. detect-secrets (pinned 1.5.0), imported lazily on first use and called only on candidate lines
   (a run of 16+ token characters, a URL with user info, a private-key marker): its regex plugins
   (:data:`_DS_REGEX_PLUGINS`) through ``analyze_string`` (pure regex: no verification requests,
   no global settings), and its two high-entropy plugins' ``calculate_shannon_entropy``, tuned so
   that ordinary configuration does not trigger (see :func:`entropy_labels`).

Results for strings up to 4 KiB are cached (the same value is typically repeated across replicas,
templates and last-applied annotations).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from re import Pattern
from typing import Any

# --------------------------------------------------------------------------------------------------
# Names

#: Catalogue KF-SEC-001 sensitive-name patterns (case-insensitive, anywhere in the name).
SENSITIVE_NAME_PATTERNS: tuple[str, ...] = (
    r"passw(?:or)?d",
    r"pwd",
    r"secret",
    r"token",
    r"api[_-]?key",
    r"access[_-]?key",
    r"private[_-]?key",
    r"credential",
    r"bearer",
    r"jwt",
    r"aws_secret_access_key",
    r"azure[\w.-]*key",
    r"oci[_-]?cli[_-]?key[_-]?content",
)
SENSITIVE_NAME_RE = re.compile("|".join(SENSITIVE_NAME_PATTERNS), re.IGNORECASE)

#: A name segment that says the variable *describes* a secret rather than holding one.
NON_SECRET_SEGMENTS: frozenset[str] = frozenset(
    {
        "file",
        "files",
        "filename",
        "path",
        "paths",
        "dir",
        "directory",
        "mount",
        "volume",
        "name",
        "names",
        "ref",
        "reference",
        "key_ref",
        "kind",
        "type",
        "mode",
        "format",
        "url",
        "uri",
        "endpoint",
        "host",
        "hostname",
        "port",
        "addr",
        "address",
        "location",
        "ttl",
        "expiry",
        "expires",
        "expiration",
        "lifetime",
        "duration",
        "interval",
        "period",
        "timeout",
        "length",
        "len",
        "size",
        "max",
        "min",
        "limit",
        "count",
        "enabled",
        "enable",
        "disabled",
        "disable",
        "required",
        "optional",
        "header",
        "algorithm",
        "alg",
        "policy",
        "issuer",
        "audience",
        "rotation",
        "version",
        "prefix",
        "suffix",
        "template",
        "regex",
        "pattern",
        "field",
        "scope",
        "scopes",
        "provider",
        "backend",
        "namespace",
        "public",
        "pub",
        "cert",
        "certificate",
        "crt",
        "hash",
        "tokenizer",
        "tokenizers",
    }
)
_SHELL_NAMES = frozenset({"pwd", "oldpwd"})  # working directories, not passwords
_SEGMENT_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
#: Weaker hints: a high-entropy value under such a name is reported (``ENCRYPTION_KEY``, ``HMAC_SALT``).
_WEAK_NAME_RE = re.compile(
    r"key|salt|hmac|sign|cipher|encrypt|auth|cookie|session|passphrase|licen[cs]e|dsn|seed|cred", re.IGNORECASE
)


#: Settings whose name matches a sensitive pattern but whose value is an identifier, not a credential:
#: etcd's ``--initial-cluster-token`` / ``ETCD_INITIAL_CLUSTER_TOKEN`` only keeps two clusters being
#: bootstrapped from joining each other by mistake (etcd documents it as a unique cluster name).
NON_CREDENTIAL_NAME_RE = re.compile(r"initial[-_.]?cluster[-_.]?token", re.IGNORECASE)


@lru_cache(maxsize=8192)
def is_sensitive_name(name: str) -> bool:
    """True when ``name`` (an env var, key or flag name) matches the sensitive-name patterns and no
    segment of it marks a reference/metadata (``*_FILE``, ``*_URL``, ``secretName``...), and it is
    not a setting known to hold an identifier (:data:`NON_CREDENTIAL_NAME_RE`)."""
    if not name or len(name) > 256 or not SENSITIVE_NAME_RE.search(name):
        return False
    if name.lower() in _SHELL_NAMES or NON_CREDENTIAL_NAME_RE.search(name):
        return False
    return not ({s.lower() for s in _SEGMENT_RE.findall(name)} & NON_SECRET_SEGMENTS)


def is_weak_hint_name(name: str | None) -> bool:
    return bool(name) and bool(_WEAK_NAME_RE.search(name or ""))


# --------------------------------------------------------------------------------------------------
# Values that are not literal secrets

_VAR_REF_RE = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_.\-]*\)")  # Kubernetes dependent variable
_TEMPLATE_RE = re.compile(r"\$\([A-Za-z_][\w.\-]*\)|\$\{[^{}\n]*\}|\{\{.*?\}\}|<[^<>\n]+>", re.S)
_SHELL_REF_RE = re.compile(r"\$[A-Za-z_]\w*|\$\(|\$\{")
_CHANGEME_RE = re.compile(r"change[-_ ]?me!?", re.IGNORECASE)
_FILE_REF_RE = re.compile(r"(?:file://|~?/|\.\.?/)[^\s:]*")
_ALNUM_RE = re.compile(r"[A-Za-z0-9]")
_NOT_VALUES = frozenset(
    {
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "none",
        "null",
        "nil",
        "~",
        "enabled",
        "disabled",
        "|",
        "|-",
        "|+",
        ">",
        ">-",
        ">+",
        "{}",
        "[]",
        '""',
        "''",
    }
)


def is_var_reference(value: str) -> bool:
    """Only ``$(VAR)`` references (Kubernetes dependent environment variables)."""
    return "$(" in value and not _VAR_REF_RE.sub("", value).strip()


def is_template(value: str) -> bool:
    """The value is nothing but references/placeholders: ``$(VAR)``, ``${VAR}``, ``{{ ... }}``, ``<...>``."""
    rest, n = _TEMPLATE_RE.subn("", value.strip())
    return n > 0 and not _ALNUM_RE.search(rest)


#: First words of a value that says what to put there (``INSERT_ETCD_DISCOVERY_TOKEN``, ``your-api-key``).
_FILL_IN_FIRST = frozenset({"insert", "replace", "enter", "your", "put", "add", "change", "set", "fill"})
#: Last words of one (``GOOGLE_API_KEY_VAL``, ``REPLACE_ME``, ``password-here``).
_FILL_IN_LAST = frozenset({"val", "value", "here", "me", "placeholder", "todo", "tbd"})
#: Values made of these words only (``TODO``, ``placeholder``, ``redacted``).
_FILL_IN_ONLY = frozenset({"todo", "tbd", "fixme", "placeholder", "redacted", "dummy", "xxx", "changeme", "replaceme"})
_WORDS_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_. ][A-Za-z0-9]+)*")
_WORD_SPLIT_RE = re.compile(r"[-_. ]+")
_MASK_RE = re.compile(r"([xX*#.])\1{2,}")  # xxxxxx, ******, ......


def is_fill_in(value: str) -> bool:
    """A value that stands where a secret is to be filled in, not a secret: ``changeme``, ``REPLACE_ME``,
    ``INSERT_<NAME>``, ``YOUR_API_KEY``, ``<NAME>_VAL``, ``password-here``, ``TODO``, ``xxxxxx``/``****``.
    Words are what counts: a first word that asks to put something there, a last word that says
    "value here", or nothing but such words."""
    v = value.strip()
    if _CHANGEME_RE.fullmatch(v) or _MASK_RE.fullmatch(v):
        return True
    if not _WORDS_RE.fullmatch(v):
        return False
    words = [w.lower() for w in _WORD_SPLIT_RE.split(v) if w]
    if all(w in _FILL_IN_ONLY for w in words):
        return True
    # a phrase of plain words in one case, as people write instructions (not "s3cr3t-Value")
    phrase = (v.isupper() or v.islower()) and all(w.isalpha() for w in words)
    return phrase and len(words) >= 2 and (words[0] in _FILL_IN_FIRST or words[-1] in _FILL_IN_LAST)


def repeats_name(value: str, name: str | None) -> bool:
    """The value only repeats its own setting's name or one word of it (``MINIO_ACCESS_KEY=minio``,
    ``DB_PASSWORD=password``, ``API_TOKEN=API_TOKEN``): a stand-in that discloses nothing."""
    if not name:
        return False
    v = value.strip().lower()
    if not v.isascii() or not v.replace("_", "").replace("-", "").isalpha():
        return False
    words = {w.lower() for w in _SEGMENT_RE.findall(name)} | {w.lower() for w in _WORD_SPLIT_RE.split(name) if w}
    return v in words or v == name.lower()


def is_placeholder(value: str) -> bool:
    """Catalogue KF-SEC-005 placeholders: empty, ``changeme``, ``<...>``, ``${...}``, ``{{ ... }}``,
    and the fill-in values of :func:`is_fill_in` (``REPLACE_ME``, ``INSERT_...``, ``..._VAL``)."""
    v = value.strip()
    return not v or is_fill_in(v) or is_template(v)


def is_literal(value: str, *, in_text: bool = False) -> bool:
    """Could ``value`` be a literal secret under a sensitive name? False for empty values,
    references and templates, booleans/null, shell variables and file paths; with ``in_text`` (a
    value cut out of a config file) also for the start of a YAML/JSON structure, anchor or alias."""
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1].strip()
    if not v or v.lower() in _NOT_VALUES or is_template(v) or is_fill_in(v):
        return False
    if _SHELL_REF_RE.match(v):  # detect-secrets' is_prefixed_with_dollar_sign heuristic
        return False
    if in_text and v[0] in "{[*&!":  # YAML/JSON structure, anchors, aliases, tags
        return False
    return not _FILE_REF_RE.fullmatch(v)


# --------------------------------------------------------------------------------------------------
# Credential patterns

#: The catalogue's Kubernetes-specific patterns (label, regex).
CATALOGUE_PATTERNS: tuple[tuple[str, Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")),
    ("AWS access key", re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])")),
    ("GitHub token", re.compile(r"(?<![A-Za-z0-9_])(?:ghp_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})")),
    ("Slack token", re.compile(r"(?<![A-Za-z0-9])xox[baprs]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}")),
    ("JSON Web Token", re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")),
)
#: Authorization header values (``Bearer <token>``, ``Basic <base64>``).
AUTH_PATTERNS: tuple[tuple[str, Pattern[str]], ...] = (
    ("bearer token", re.compile(r"\b[Bb]earer\s+[A-Za-z0-9._~+/\-]{16,}=*")),
    ("basic auth header", re.compile(r"\bBasic\s+[A-Za-z0-9+/]{12,}={0,2}(?![A-Za-z0-9+/=])")),
)
_QUICK_RE = re.compile("|".join(p.pattern for _, p in CATALOGUE_PATTERNS + AUTH_PATTERNS))

#: detect-secrets regex plugins used (module, class). Left out: ArtifactoryDetector (its
#: ``AP[0-9A-F]...`` password pattern matches ordinary upper-case words), IPPublicDetector (an IP
#: address is not a secret), KeywordDetector (its ``secret: x`` rule fires on ``secretName: x``; its
#: keyword list is used by :func:`find_assignments` instead) and the high-entropy plugins (used
#: through :func:`entropy_labels` with Kubernetes-specific tuning).
_DS_REGEX_PLUGINS: tuple[tuple[str, str], ...] = (
    ("aws", "AWSKeyDetector"),
    ("azure_storage_key", "AzureStorageKeyDetector"),
    ("basic_auth", "BasicAuthDetector"),
    ("cloudant", "CloudantDetector"),
    ("discord", "DiscordBotTokenDetector"),
    ("github_token", "GitHubTokenDetector"),
    ("gitlab_token", "GitLabTokenDetector"),
    ("ibm_cloud_iam", "IbmCloudIamDetector"),
    ("ibm_cos_hmac", "IbmCosHmacDetector"),
    ("jwt", "JwtTokenDetector"),
    ("mailchimp", "MailchimpDetector"),
    ("npm", "NpmDetector"),
    ("openai", "OpenAIDetector"),
    ("private_key", "PrivateKeyDetector"),
    ("pypi_token", "PypiTokenDetector"),
    ("sendgrid", "SendGridDetector"),
    ("slack", "SlackDetector"),
    ("softlayer", "SoftlayerDetector"),
    ("square_oauth", "SquareOAuthDetector"),
    ("stripe", "StripeDetector"),
    ("telegram_token", "TelegramBotTokenDetector"),
    ("twilio", "TwilioKeyDetector"),
)
#: detect-secrets secret types that duplicate a catalogue pattern, mapped to its label.
_DS_LABELS = {
    "AWS Access Key": "AWS access key",
    "GitHub Token": "GitHub token",
    "Slack Token": "Slack token",
    "Private Key": "private key",
    "JSON Web Token": "JSON Web Token",
}
#: Only lines with one of these are given to detect-secrets.
_DS_CANDIDATE_RE = re.compile(r"[A-Za-z0-9+/=_\-]{16,}|://[^\s/]*@|PRIVATE KEY|PuTTY")

B64_ENTROPY_LIMIT = 4.5  # detect-secrets default, for unhinted tokens of 32+ characters
B64_HINTED_ENTROPY_LIMIT = 4.0  # under a weak-hint name (ENCRYPTION_KEY...), tokens of 20+ characters
HEX_ENTROPY_LIMIT = 3.0  # detect-secrets default; hex is judged only under a weak-hint name
_B64_TOKEN_RE = re.compile(r"[A-Za-z0-9+/_\-]+={0,2}")
_HEX_TOKEN_RE = re.compile(r"[0-9a-fA-F]+")
_WORD_RUN_RE = re.compile(r"[a-z]{8}")
_DIGEST_PREFIX_RE = re.compile(r"^(?:sha\d+|md5)[:=]", re.IGNORECASE)

_MAX_CACHED = 4096
_MAX_SCANNED = 2_000_000  # larger values are scanned only by the catalogue patterns


class _DetectSecrets:
    """detect-secrets, loaded on first use (its import costs ~0.2 s and most scans never need it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self.regex_plugins: list[Any] = []
        self.b64: Any = None
        self.hex: Any = None
        self.keyword_denylist: tuple[str, ...] = ()
        self.heuristics: Any = None

    def load(self) -> _DetectSecrets:
        if self._loaded:
            return self
        with self._lock:
            if self._loaded:
                return self
            for module, cls in _DS_REGEX_PLUGINS:
                try:
                    mod = importlib.import_module(f"detect_secrets.plugins.{module}")
                    self.regex_plugins.append(getattr(mod, cls)())
                except (ImportError, AttributeError):  # pragma: no cover - another detect-secrets version
                    continue
            from detect_secrets.filters import heuristic
            from detect_secrets.plugins import keyword
            from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

            self.b64 = Base64HighEntropyString(limit=B64_ENTROPY_LIMIT)
            self.hex = HexHighEntropyString(limit=HEX_ENTROPY_LIMIT)
            self.keyword_denylist = tuple(keyword.DENYLIST)
            self.heuristics = heuristic
            self._loaded = True
        return self


_DS = _DetectSecrets()


def _detect_secrets_labels(text: str) -> set[str]:
    ds = _DS.load()
    out: set[str] = set()
    for line in text.splitlines() or [text]:
        if not _DS_CANDIDATE_RE.search(line):
            continue
        for plugin in ds.regex_plugins:
            try:
                hit = next(iter(plugin.analyze_string(line)), None)
            except Exception:
                hit = None
            if hit is not None:
                st = str(plugin.secret_type)
                out.add(_DS_LABELS.get(st, st))
    return out


def _pattern_labels(text: str) -> tuple[str, ...]:
    labels: list[str] = []
    if _QUICK_RE.search(text):
        for label, rx in CATALOGUE_PATTERNS + AUTH_PATTERNS:
            if rx.search(text):
                labels.append(label)
    if len(text) <= _MAX_SCANNED and _DS_CANDIDATE_RE.search(text):
        for label in sorted(_detect_secrets_labels(text)):
            if label not in labels:
                labels.append(label)
    return tuple(labels)


_pattern_labels_cached = lru_cache(maxsize=16384)(_pattern_labels)


def credential_labels(text: str) -> tuple[str, ...]:
    """Labels of the credential patterns found anywhere in ``text`` (catalogue patterns, then
    detect-secrets regex plugins). No entropy: safe for annotations, certificates, config files."""
    if not text or len(text) < 8:
        return ()
    return _pattern_labels_cached(text) if len(text) <= _MAX_CACHED else _pattern_labels(text)


@lru_cache(maxsize=16384)
def entropy_labels(token: str, hinted: bool = False) -> tuple[str, ...]:
    """detect-secrets' high-entropy plugins on one whole token, tuned for Kubernetes config:

    - base64 charset: 32+ characters with upper case, lower case and digits and Shannon entropy
      above 4.5 (20+ characters and 4.0 when the name is a weak hint such as ``ENCRYPTION_KEY``), and
      no run of 8 lower-case letters (words);
    - hex: only under a weak-hint name, 32+ characters, entropy above 3.0 (commit SHAs, image digests
      and Helm ``checksum/*`` values are hex and are not secrets);
    - never: tokens over 512 characters (encoded blobs), UUIDs, sequential strings, ``sha256:``
      digests, base64 that decodes to a certificate, public key, JSON or XML document.
    """
    n = len(token)
    if n < 20 or n > 512 or _DIGEST_PREFIX_RE.match(token):
        return ()
    ds = _DS.load()
    h = ds.heuristics
    if h.is_potential_uuid(token) or h.is_sequential_string(token):
        return ()
    if _HEX_TOKEN_RE.fullmatch(token):
        if hinted and n >= 32 and not token.isdigit() and ds.hex.calculate_shannon_entropy(token) > HEX_ENTROPY_LIMIT:
            return (str(ds.hex.secret_type),)
        return ()
    if not _B64_TOKEN_RE.fullmatch(token):
        return ()
    if not (any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)):
        return ()
    if _WORD_RUN_RE.search(token):  # camelCase words (MyApplicationConfig2024), not random characters
        return ()
    limit = B64_HINTED_ENTROPY_LIMIT if hinted else B64_ENTROPY_LIMIT
    if n < (20 if hinted else 32) or ds.b64.calculate_shannon_entropy(token) <= limit:
        return ()
    decoded = decode_base64_text(token)
    if decoded is not None and decoded.lstrip().startswith(("{", "<", "[", "-----")) and not credential_labels(decoded):
        return ()  # an encoded document (certificate, JSON...), not key material
    return (str(ds.b64.secret_type),)


def detect_value(value: str, *, name: str | None = None, entropy: bool = True) -> tuple[str, ...]:
    """Labels for a value: credential patterns anywhere in it; otherwise, when it is one token (no
    whitespace) and ``entropy`` is on, the tuned high-entropy check (``name`` may be a weak hint)."""
    labels = credential_labels(value)
    if labels or not entropy:
        return labels
    token = value.strip().strip("\"'")
    if not token or any(c.isspace() for c in token):
        return ()
    return entropy_labels(token, is_weak_hint_name(name))


# --------------------------------------------------------------------------------------------------
# Allow-lists (parameters ``sensitive_names_allowed`` / ``sensitive_values_allowed``)


@lru_cache(maxsize=256)
def _compile_allow(entries: tuple[str, ...], ignore_case: bool) -> tuple[frozenset[str], tuple[Pattern[str], ...]]:
    exact = frozenset(e.lower() if ignore_case else e for e in entries)
    regexes = []
    for e in entries:
        try:
            regexes.append(re.compile(e, re.IGNORECASE if ignore_case else 0))
        except re.error:
            continue  # not a regex: exact match only
    return exact, tuple(regexes)


def _entries(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),)


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Names (case-insensitive) and values (case-sensitive) that are not secrets: exact strings or
    regular expressions matching the whole name/value."""

    names: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, names: Any = None, values: Any = None) -> Allowlist:
        return cls(_entries(names), _entries(values))

    def name_allowed(self, name: str) -> bool:
        if not self.names:
            return False
        exact, regexes = _compile_allow(self.names, True)
        return name.lower() in exact or any(r.fullmatch(name) for r in regexes)

    def value_allowed(self, value: str) -> bool:
        if not self.values:
            return False
        exact, regexes = _compile_allow(self.values, False)
        v = value.strip()
        return value in exact or v in exact or any(r.fullmatch(v) for r in regexes)


NO_ALLOW = Allowlist()


# --------------------------------------------------------------------------------------------------
# Decisions used by several rules


def scalar_text(value: Any) -> str | None:
    """A YAML scalar as the string Kubernetes would see (numbers too); None for others/booleans."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return None


def env_literal_reasons(name: str, value: Any, allow: Allowlist = NO_ALLOW) -> tuple[str, ...]:
    """Why an env var ``name`` with the literal ``value`` holds a secret (KF-SEC-001); () if it does not.
    Empty values and ``$(VAR)`` references are ignored."""
    text = scalar_text(value)
    if text is None or not text.strip() or is_var_reference(text) or allow.value_allowed(text):
        return ()
    reasons: list[str] = []
    if is_sensitive_name(name) and not allow.name_allowed(name) and is_literal(text) and not repeats_name(text, name):
        reasons.append("sensitive name")
    reasons.extend(detect_value(text, name=name))
    return tuple(reasons)


def describe(reasons: Sequence[str]) -> str:
    """``"sensitive name, AWS access key"`` (labels only, de-duplicated, in order)."""
    return ", ".join(dict.fromkeys(reasons))


def quote_names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(f'"{n}"' for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --------------------------------------------------------------------------------------------------
# Config file contents: ``password=...``, ``secret: ...``, ``"token": "..."``


@lru_cache(maxsize=1)
def _assignment_re() -> Pattern[str]:
    words = list(SENSITIVE_NAME_PATTERNS) + [w for w in _DS.load().keyword_denylist if w.isascii()]
    words.append(_WEAK_NAME_RE.pattern)
    return re.compile(
        r"""(?:^|(?<=[\s"'{,;(\[&?]))(?:export\s+)?["']?"""
        r"""(?P<key>[A-Za-z0-9_.\-]{0,60}?(?:""" + "|".join(words) + r""")[A-Za-z0-9_.\-]{0,60})["']?"""
        r"""[ \t]*(?::(?!//)|=)[ \t]*"""
        r"""(?P<val>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;#&}\]]+)""",
        re.IGNORECASE,
    )


@lru_cache(maxsize=1)
def _assignment_prefilter() -> tuple[Pattern[str], Pattern[str] | None]:
    """Whether text may hold a sensitive assignment at all (:func:`_may_assign`): the words matched
    case-insensitively, and, when every word is lowercase, the same matched case-sensitively, for ASCII
    text lowercased. An alternation of ~40 words matched case-insensitively by ``re`` costs ~0.4 ms per
    kilobyte (a ConfigMap holding a certificate), nine times the case-sensitive search; for ASCII text
    both answer alike (the four non-ASCII letters ``re`` folds onto ASCII ones are not ASCII)."""
    words = list(SENSITIVE_NAME_PATTERNS) + [w for w in _DS.load().keyword_denylist if w.isascii()]
    pattern = "|".join(words) + "|" + _WEAK_NAME_RE.pattern
    return re.compile(pattern, re.IGNORECASE), re.compile(pattern) if pattern == pattern.lower() else None


def _may_assign(text: str) -> bool:
    folded, lower = _assignment_prefilter()
    if lower is not None and text.isascii():
        return lower.search(text.lower()) is not None
    return folded.search(text) is not None


@lru_cache(maxsize=1)
def _keyword_name_re() -> Pattern[str]:
    """detect-secrets KeywordDetector's keywords, which also count as sensitive in assignments."""
    return re.compile("|".join(w for w in _DS.load().keyword_denylist if w.isascii()), re.IGNORECASE)


def _is_assignment_key(key: str) -> bool:
    if is_sensitive_name(key):
        return True
    return bool(_keyword_name_re().search(key)) and not (
        {s.lower() for s in _SEGMENT_RE.findall(key)} & NON_SECRET_SEGMENTS
    )


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def find_assignments(text: str, allow: Allowlist = NO_ALLOW) -> list[tuple[str, tuple[str, ...]]]:
    """``(key name, reasons)`` for each assignment of a literal to a sensitive key in config text
    (properties, .env, INI, YAML, JSON, shell): ``password=...``, ``secret: ...``,
    ``aws_access_key_id=...``. A key that is only a weak hint (``encryption.key``) counts when its
    value is a high-entropy token."""
    if not text or not _may_assign(text):
        return []
    rx = _assignment_re()
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if len(line) > 10_000 or not _may_assign(line):
            continue
        for m in rx.finditer(line):
            key = m.group("key").strip(".-_")
            val = _unquote(m.group("val"))
            if not key or len(key) > 80 or allow.name_allowed(key) or allow.value_allowed(val):
                continue
            reasons: list[str] = []
            if _is_assignment_key(key):
                if is_literal(val, in_text=True) and not repeats_name(val, key):
                    reasons.append("sensitive name")
            elif is_literal(val, in_text=True) and not any(c.isspace() for c in val):
                reasons.extend(entropy_labels(val, True))
            if reasons:
                out.setdefault(key, []).extend(reasons)
    return [(k, tuple(dict.fromkeys(v))) for k, v in out.items()]


def content_reasons(text: str, allow: Allowlist = NO_ALLOW) -> list[str]:
    """Why config content holds credentials: credential patterns and sensitive assignments."""
    if not text or allow.value_allowed(text):
        return []
    reasons = list(credential_labels(text))
    for key, why in find_assignments(text, allow):
        reasons.append(f'assignment to "{key}": {describe(why)}')
    return reasons


# --------------------------------------------------------------------------------------------------
# Command lines

_FLAG_EQ_RE = re.compile(r"^(?P<dash>--?)(?P<name>[A-Za-z][\w.\-]*)=(?P<val>.*)$", re.S)
_FLAG_RE = re.compile(r"^(?P<dash>--?)(?P<name>[A-Za-z][\w.\-]*)$")
_SCRIPT_FLAG_RE = re.compile(
    r"""(?:^|(?<=[\s"'`]))(?P<dash>--?)(?P<name>[A-Za-z][\w.\-]*)(?:=|[ \t]+)(?P<val>"[^"\n]*"|'[^'\n]*'|[^\s;|&)]+)"""
)
_SCRIPT_ASSIGN_RE = re.compile(
    r"""(?:^|(?<=[\s;&|("'`]))(?:export\s+)?(?P<name>[A-Za-z_]\w*)=(?P<val>"[^"\n]*"|'[^'\n]*'|[^\s;|&)]+)"""
)


def _name_value_reasons(name: str, val: str, allow: Allowlist) -> list[str]:
    val = _unquote(val)
    if allow.value_allowed(val) or allow.name_allowed(name):
        return []
    if is_sensitive_name(name) and is_literal(val, in_text=True) and not repeats_name(val, name):
        return ["sensitive name"]
    return []


def scan_command_line(tokens: Sequence[Any], allow: Allowlist = NO_ALLOW) -> dict[int, list[str]]:
    """For a container's ``command`` or ``args`` list: ``{token index: reasons}`` for the tokens that
    hold a credential. ``--name=value`` and ``--name value`` (the value token is reported) with a
    sensitive ``name`` and a literal value, ``NAME=value`` and flags inside shell scripts, and any
    token containing a credential pattern."""
    found: dict[int, list[str]] = {}

    def add(i: int, reasons: Iterable[str]) -> None:
        for r in reasons:
            lst = found.setdefault(i, [])
            if r not in lst:
                lst.append(r)

    n = len(tokens)
    for i, tok in enumerate(tokens):
        if not isinstance(tok, str) or not tok:
            continue
        if allow.value_allowed(tok):
            continue
        m = _FLAG_EQ_RE.match(tok)
        if m:
            flag = m.group("dash") + m.group("name")
            why = _name_value_reasons(m.group("name"), m.group("val"), allow)
            labels = (
                detect_value(m.group("val"), name=m.group("name")) if not allow.value_allowed(m.group("val")) else ()
            )
            if why or labels:
                add(i, [f'flag "{flag}": {describe(why + list(labels))}'])
            continue
        m = _FLAG_RE.match(tok)
        if m:
            nxt = tokens[i + 1] if i + 1 < n else None
            if isinstance(nxt, str) and not nxt.startswith("-"):
                why = _name_value_reasons(m.group("name"), nxt, allow)
                if why:
                    add(i + 1, [f'flag "{m.group("dash")}{m.group("name")}": {describe(why)}'])
            continue
        if any(c.isspace() for c in tok.strip()):  # a shell script or a command line in one string
            for rx, kind in ((_SCRIPT_FLAG_RE, "flag"), (_SCRIPT_ASSIGN_RE, "variable")):
                for sm in rx.finditer(tok):
                    name = sm.group("name")
                    why = _name_value_reasons(name, sm.group("val"), allow)
                    if why:
                        shown = (sm.group("dash") + name) if kind == "flag" else name
                        add(i, [f'{kind} "{shown}": {describe(why)}'])
            add(i, credential_labels(tok))
        else:
            add(i, detect_value(tok))
    return found


# --------------------------------------------------------------------------------------------------
# Personal data (KF-SEC-003 sub-code ``pii``)

_EMAIL_RE = re.compile(
    r"(?<![\w.+\-/@:])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![\w\-@]|:[\w/])"
)
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_PHONE_RE = re.compile(
    r"(?<![\w+])\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){2,4}(?![\w])"
    r"|(?<![\w(])\(\d{3}\)[ ]?\d{3}-\d{4}(?!\w)"
    r"|\btel:\+?\d[\d\-.]{6,}"
)


def _iban_valid(s: str) -> bool:
    s = s.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def _phone_like(s: str) -> bool:
    digits = sum(c.isdigit() for c in s)
    return 8 <= digits <= 15


def find_pii(text: str) -> tuple[str, ...]:
    """Kinds of personal data in ``text``: ``e-mail address``, ``IBAN``, ``phone number``."""
    if not text:
        return ()
    out: list[str] = []
    if "@" in text and _EMAIL_RE.search(text):
        out.append("e-mail address")
    if any(_iban_valid(m.group(0)) for m in _IBAN_RE.finditer(text)):
        out.append("IBAN")
    if any(_phone_like(m.group(0)) for m in _PHONE_RE.finditer(text)):
        out.append("phone number")
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# Secrets and annotations

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def decode_base64_text(value: str) -> str | None:
    """The text of a base64 (or base64url) value, or None when it is not valid base64 (never raises)."""
    s = "".join(value.split())
    s += "=" * (-len(s) % 4)
    for altchars in (None, b"-_"):
        try:
            raw = base64.b64decode(s, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        return raw.decode("utf-8", errors="replace")
    return None


def secret_value_keys(secret: Mapping[str, Any], allow: Allowlist = NO_ALLOW) -> Iterator[tuple[str, str]]:
    """``(field, key)`` of a Secret's ``data``/``stringData`` entries that hold a real value (not
    empty, not a placeholder; ``data`` is base64-decoded first)."""
    for field in ("data", "stringData"):
        entries = secret.get(field)
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            text = scalar_text(value)
            if text is None or not text.strip():
                continue
            if field == "data":
                decoded = decode_base64_text(text)
                text = decoded if decoded is not None else text
            if is_placeholder(text) or allow.value_allowed(text):
                continue
            yield field, str(key)


def parse_json_object(text: Any, max_len: int = 4_000_000) -> Mapping[str, Any] | None:
    """A JSON object from an annotation, or None when it is not one (never raises)."""
    if not isinstance(text, str) or not text.strip() or len(text) > max_len:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
