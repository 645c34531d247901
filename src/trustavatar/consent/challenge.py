"""One-time consent challenges: a six-digit code bound to a draft consent, with a short life.

An operator drafts the consent (subject, scope, validity) and asks for a challenge; the
subject reads the printed sentence, with its code, on a recorded clip; checking the clip
(:func:`trustavatar.consent.record_clip`) uses the challenge up.

The code
--------
``n = int(HMAC-SHA256(key=nonce, msg=TAG || JCS(draft))[:8]) mod k**6``, written as six
base-``k`` digits (leading zeros kept) over the template's code alphabet of ``k`` digits,
where ``nonce`` is 16 random bytes made for this challenge, ``draft`` the draft consent as
a JSON object, JCS its RFC 8785 bytes and ``TAG`` the bytes
``b"trustavatar.consent-challenge.v1\\x00"``. The English template's alphabet is
``123478`` (``k = 6``, 46,656 codes): 0, 5, 6 and 9 are left out because the recogniser
confuses them most (``four``/``oh``, ``six``/``three``, ``nine``/``one``, ``five``/``nine``,
``four``/``five``; ``consent/README.md``). With the alphabet ``0123456789`` the formula is
the plain ``mod 10**6`` of challenges made before alphabets existed. The code thus depends
on exactly what the subject consents to (another draft gives another code) and cannot be
guessed without the nonce, which stays in the registry. The bias of reducing 64 bits modulo
``k**6`` is below 1e-13. The code itself is not stored: it is derived again when a clip is
checked.

The template
------------
The statement template the challenge was made with (sentence, digit words, alphabet) is
stored with it, and a clip is checked against that template: the subject is held to the
sentence they were shown. Challenges stored before templates were (registry migration 4)
were made with the English sentence and ten-digit codes (:data:`LEGACY_TEMPLATE`).

Rules
-----
* A challenge expires :data:`CHALLENGE_TTL` after it is made (15 minutes by default;
  at most :data:`MAX_CHALLENGE_TTL`).
* The first clip that passes every check uses the challenge up: a replayed clip, or any
  later clip, is refused ("already used").
* Each rejected clip counts as an attempt; after :data:`MAX_ATTEMPTS` the challenge is
  spent, so codes cannot be tried one after another (an attacker has 3 guesses in
  46,656 with the English template). A clip that cannot be read at all (bad input) does
  not count.
* The use is recorded in a transaction that first re-checks that the challenge is still
  open, so two clips checked at the same time cannot both use it.
"""

from __future__ import annotations

__all__ = [
    "CHALLENGE_TTL",
    "LEGACY_TEMPLATE",
    "MAX_ATTEMPTS",
    "MAX_CHALLENGE_TTL",
    "Challenge",
    "ChallengeStatus",
    "ConsentDraft",
    "create_challenge",
    "derive_code",
    "get_challenge",
    "list_challenges",
]

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from trustavatar import _envelope
from trustavatar._arguments import REGISTRY_HINT, instance
from trustavatar._time import format_time, parse_time, to_second, utc_now
from trustavatar.consent.issuance import (
    _LANGUAGE,
    _TOKEN,
    DEFAULT_PURPOSE,
    DEFAULT_VALIDITY,
    _name,
    _new_name,
    _tokens,
)
from trustavatar.consent.spoken_code import (
    CODE_LENGTH,
    DECIMAL_DIGITS,
    ENGLISH_TEMPLATE,
    MIN_CODE_DIGITS,
    ConsentTemplate,
)
from trustavatar.errors import ConsentChallengeError, InputError, RegistryError
from trustavatar.registry import Registry

#: How long a challenge can be used by default.
CHALLENGE_TTL: Final = dt.timedelta(minutes=15)
#: The longest life a challenge may be given.
MAX_CHALLENGE_TTL: Final = dt.timedelta(hours=24)
#: Rejected clips a challenge accepts before it is spent.
MAX_ATTEMPTS: Final = 3
_TAG: Final = b"trustavatar.consent-challenge.v1\x00"
_CHANNEL: Final = re.compile(r"\*|" + _TOKEN.pattern)
_NONCE_BYTES: Final = 16
#: The template of challenges stored before templates were (registry migration 4): the
#: English sentence with codes over all ten digits.
LEGACY_TEMPLATE: Final = dataclasses.replace(
    ENGLISH_TEMPLATE,
    digits={"0": ("zero", "oh"), "1": ("one",), "2": ("two",), "3": ("three",),
            "4": ("four",), "5": ("five",), "6": ("six",), "7": ("seven",), "8": ("eight",),
            "9": ("nine",)},
    instructions=ENGLISH_TEMPLATE.instructions.replace(
        "on its own.", "on its own (for 0 say zero or oh)."),
)
_MAX_VALID_DAYS: Final = 36500

ChallengeStatus: TypeAlias = Literal["open", "expired", "used", "spent"]


@dataclass(frozen=True)
class ConsentDraft:
    """What the subject is asked to consent to: the unsigned part of the future artifact.

    The consent will be valid from its issue (when the clip is accepted) for
    ``valid_days`` days (default 365), or until ``not_after`` when that is given. Purposes
    and channels are lower-case tokens, languages BCP 47 tags (``"*"``: any).
    """

    display_name: str
    purposes: tuple[str, ...] = (DEFAULT_PURPOSE,)
    languages: tuple[str, ...] = ("*",)
    channels: tuple[str, ...] = ("*",)
    valid_days: int | None = None
    not_after: dt.datetime | None = None
    operator: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "display_name", _name(self.display_name, "display name"))
        object.__setattr__(self, "purposes", _tokens(self.purposes, "purpose", _TOKEN))
        object.__setattr__(self, "languages",
                           _tokens(self.languages, "language", _LANGUAGE, lower=True))
        object.__setattr__(self, "channels",
                           _tokens(self.channels, "channel", _CHANNEL))
        if self.operator is not None:
            object.__setattr__(self, "operator", _name(self.operator, "operator"))
        if self.valid_days is not None and self.not_after is not None:
            raise InputError("give valid_days or not_after, not both")
        if self.valid_days is not None and (
                isinstance(self.valid_days, bool) or not isinstance(self.valid_days, int)
                or not 1 <= self.valid_days <= _MAX_VALID_DAYS):
            raise InputError(f"valid_days must be an integer in 1..{_MAX_VALID_DAYS}, "
                             f"got {self.valid_days!r}")
        if self.not_after is not None:
            object.__setattr__(self, "not_after", to_second(self.not_after, "not_after"))
        elif self.valid_days is None:
            object.__setattr__(self, "valid_days", DEFAULT_VALIDITY.days)

    @property
    def valid_for(self) -> dt.timedelta:
        """Validity from issue when no ``not_after`` is set."""
        return DEFAULT_VALIDITY if self.valid_days is None else dt.timedelta(days=self.valid_days)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "display_name": self.display_name,
            "purposes": list(self.purposes),
            "languages": list(self.languages),
            "channels": list(self.channels),
        }
        if self.not_after is not None:
            data["not_after"] = format_time(self.not_after)
        else:
            data["valid_days"] = self.valid_for.days
        if self.operator is not None:
            data["operator"] = self.operator
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsentDraft:
        try:
            return cls(
                display_name=data["display_name"], purposes=tuple(data["purposes"]),
                languages=tuple(data["languages"]), channels=tuple(data["channels"]),
                valid_days=data.get("valid_days"),
                not_after=parse_time(data["not_after"]) if "not_after" in data else None,
                operator=data.get("operator"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RegistryError(f"a stored consent draft is damaged: {e}") from e

    def canonical(self) -> bytes:
        """RFC 8785 bytes of :meth:`to_json` (what the code is derived from)."""
        return _envelope.canonical_json(self.to_json())


def derive_code(draft: ConsentDraft, nonce: bytes, code_digits: str = DECIMAL_DIGITS) -> str:
    """The challenge code of ``draft`` with ``nonce``, over the alphabet ``code_digits``
    (see the module documentation)."""
    if not isinstance(nonce, bytes) or len(nonce) != _NONCE_BYTES:
        raise InputError(f"a challenge nonce is {_NONCE_BYTES} bytes")
    _check_alphabet(code_digits)
    digest = hmac.new(nonce, _TAG + draft.canonical(), hashlib.sha256).digest()
    k = len(code_digits)
    n = int.from_bytes(digest[:8], "big") % k**CODE_LENGTH
    out = []
    for _ in range(CODE_LENGTH):
        n, d = divmod(n, k)
        out.append(code_digits[d])
    return "".join(reversed(out))


def _check_alphabet(code_digits: str) -> None:
    if (not isinstance(code_digits, str) or len(code_digits) < MIN_CODE_DIGITS
            or any(c not in DECIMAL_DIGITS for c in code_digits)
            or sorted(set(code_digits)) != list(code_digits)):
        raise InputError(f"a code alphabet is at least {MIN_CODE_DIGITS} distinct digits in "
                         f"increasing order, got {code_digits!r}")


@dataclass(frozen=True)
class Challenge:
    """A consent challenge as stored in the registry. :attr:`code` is secret until the
    subject reads it: show it only to the subject."""

    challenge_id: str
    draft: ConsentDraft
    nonce: bytes
    created_at: dt.datetime
    expires_at: dt.datetime
    attempts: int
    used_at: dt.datetime | None = None
    consent_id: str | None = None
    #: The statement template it was made with (the sentence to read and the code's digits).
    template: ConsentTemplate = field(default_factory=lambda: LEGACY_TEMPLATE)

    @property
    def language(self) -> str:
        """The language the sentence is read in (its template's)."""
        return self.template.language

    @property
    def code_digits(self) -> str:
        """The digits the code is made of (its template's alphabet)."""
        return self.template.code_digits

    @property
    def code(self) -> str:
        return derive_code(self.draft, self.nonce, self.code_digits)

    @property
    def draft_sha256(self) -> str:
        return hashlib.sha256(self.draft.canonical()).hexdigest()

    def status(self, at: dt.datetime) -> ChallengeStatus:
        if self.used_at is not None:
            return "used"
        if self.attempts >= MAX_ATTEMPTS:
            return "spent"
        if at >= self.expires_at:
            return "expired"
        return "open"

    def sentence(self) -> str:
        """The sentence the subject reads (the code as spaced digits)."""
        return self.template.sentence(self.code)

    def to_dict(self, *, at: dt.datetime | None = None, code: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "challenge_id": self.challenge_id,
            "draft": self.draft.to_json(),
            "draft_sha256": self.draft_sha256,
            "language": self.language,
            "code_digits": self.code_digits,
            "created_at": format_time(self.created_at),
            "expires_at": format_time(self.expires_at),
            "attempts": self.attempts,
            "max_attempts": MAX_ATTEMPTS,
            "used_at": None if self.used_at is None else format_time(self.used_at),
            "consent_id": self.consent_id,
        }
        if at is not None:
            data["status"] = self.status(at)
        if code:
            data["code"] = self.code
        return data


def create_challenge(
    registry: Registry,
    draft: ConsentDraft,
    *,
    ttl: dt.timedelta = CHALLENGE_TTL,
    template: ConsentTemplate = ENGLISH_TEMPLATE,
    at: dt.datetime | None = None,
) -> Challenge:
    """Make a challenge for ``draft``, store it in ``registry`` and return it.

    ``ttl``: how long it can be used (at most :data:`MAX_CHALLENGE_TTL`). ``at``: the time
    it is made (default: now).
    """
    instance(registry, Registry, "registry", REGISTRY_HINT)
    if not isinstance(draft, ConsentDraft):
        raise InputError(f"draft must be a ConsentDraft, got {type(draft).__name__}")
    _new_name(draft.display_name, "display name")
    _new_name(draft.operator, "operator")
    if not isinstance(ttl, dt.timedelta) or not dt.timedelta(seconds=1) <= ttl <= \
            MAX_CHALLENGE_TTL:
        raise InputError(f"a challenge lives between 1 s and {MAX_CHALLENGE_TTL}; got {ttl}")
    created = utc_now() if at is None else to_second(at, "at")
    if draft.not_after is not None and draft.not_after <= created + ttl:
        raise InputError(
            f"the consent's not_after {format_time(draft.not_after)} must be later than the "
            f"challenge's expiry {format_time(created + ttl)}: a clip recorded in time would "
            "give a consent that has already ended"
        )
    if not isinstance(template, ConsentTemplate):
        raise InputError(f"template must be a ConsentTemplate, got {type(template).__name__}")
    template.check_words()
    challenge = Challenge(
        challenge_id=str(uuid.uuid4()), draft=draft, nonce=_new_nonce(), created_at=created,
        expires_at=created + ttl, attempts=0, template=template,
    )
    with registry.transaction() as conn:
        conn.execute(
            "INSERT INTO consent_challenges (challenge_id, draft, draft_sha256, nonce, language,"
            " template, created_at, expires_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (challenge.challenge_id, draft.canonical().decode("utf-8"), challenge.draft_sha256,
             challenge.nonce.hex(), challenge.language,
             _envelope.canonical_json(template.to_json()).decode("utf-8"),
             format_time(created), format_time(challenge.expires_at)),
        )
    return challenge


def _new_nonce() -> bytes:
    """16 random bytes (tests replace this to get a known code)."""
    return secrets.token_bytes(_NONCE_BYTES)


_SELECT: Final = (
    "SELECT challenge_id, draft, draft_sha256, nonce, language, template, created_at,"
    " expires_at, attempts, used_at, consent_id FROM consent_challenges"
)


def get_challenge(registry: Registry, challenge_id: str) -> Challenge | None:
    """The challenge ``challenge_id``, or None when the registry has none by that id."""
    rows = registry.query(_SELECT + " WHERE challenge_id = ?", (challenge_id,))
    return _challenge(rows[0]) if rows else None


def list_challenges(registry: Registry) -> list[Challenge]:
    """Every challenge, oldest first."""
    return [_challenge(r) for r in registry.query(_SELECT + " ORDER BY created_at")]


def _challenge(row: sqlite3.Row) -> Challenge:
    try:
        draft = ConsentDraft.from_json(json.loads(row["draft"]))
        challenge = Challenge(
            challenge_id=row["challenge_id"], draft=draft, nonce=bytes.fromhex(row["nonce"]),
            created_at=parse_time(row["created_at"]),
            expires_at=parse_time(row["expires_at"]), attempts=int(row["attempts"]),
            used_at=None if row["used_at"] is None else parse_time(row["used_at"]),
            consent_id=row["consent_id"],
            template=(LEGACY_TEMPLATE if row["template"] is None
                      else ConsentTemplate.from_json(json.loads(row["template"]))),
        )
    except (ValueError, TypeError, InputError) as e:
        raise RegistryError(f"the registry row of challenge {row['challenge_id']} is damaged: "
                            f"{e}") from e
    if challenge.draft_sha256 != row["draft_sha256"]:
        raise RegistryError(f"the draft of challenge {row['challenge_id']} was changed")
    if row["language"] != challenge.language:
        raise RegistryError(
            f"the registry row of challenge {row['challenge_id']} is damaged: its language "
            f"column says {row['language']!r}, its template {challenge.language!r}")
    return challenge


# --- use (called by trustavatar.consent.record) ---------------------------------------------


def require_open(registry: Registry, challenge_id: str, *, at: dt.datetime) -> Challenge:
    """The challenge, if it can still be used at ``at``; else :class:`ConsentChallengeError`."""
    if not isinstance(challenge_id, str) or not challenge_id:
        raise InputError("a challenge id is required")
    challenge = get_challenge(registry, challenge_id)
    if challenge is None:
        raise ConsentChallengeError(
            f"freshness: no challenge {challenge_id!r} in the registry {registry.path}",
            reason="unknown")
    _raise_unless_open(challenge, at)
    return challenge


def _raise_unless_open(challenge: Challenge, at: dt.datetime) -> None:
    cid = challenge.challenge_id
    status = challenge.status(at)
    if status == "used":
        assert challenge.used_at is not None
        raise ConsentChallengeError(
            f"freshness: challenge {cid} was already used at {format_time(challenge.used_at)} "
            f"(consent {challenge.consent_id}); a clip can be used once — ask for a new "
            "challenge", reason="used")
    if status == "spent":
        raise ConsentChallengeError(
            f"freshness: challenge {cid} is spent: {challenge.attempts} rejected clips, "
            f"at most {MAX_ATTEMPTS} allowed — ask for a new challenge", reason="spent")
    if status == "expired":
        late = at - challenge.expires_at
        raise ConsentChallengeError(
            f"freshness: challenge {cid} expired at {format_time(challenge.expires_at)} "
            f"({_duration(late)} before {format_time(at)}) — ask for a new challenge",
            reason="expired")


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def reserve_attempt(registry: Registry, challenge_id: str, *, at: dt.datetime) -> int:
    """Count an attempt *before* its clip is checked, re-checking in the same transaction
    that the challenge is still open at ``at``; returns the attempt's number. Counted only
    after a clip was rejected, N clips checked at once all got their check (six of three
    allowed attempts). :func:`refund_attempt` gives the attempt back when the clip passes
    or could not be checked at all: only rejected clips use attempts up."""
    with registry.transaction() as conn:
        row = conn.execute(_SELECT + " WHERE challenge_id = ?", (challenge_id,)).fetchone()
        if row is None:
            raise ConsentChallengeError(f"freshness: no challenge {challenge_id!r}",
                                        reason="unknown")
        challenge = _challenge(row)
        _raise_unless_open(challenge, at)
        conn.execute("UPDATE consent_challenges SET attempts = attempts + 1"
                     " WHERE challenge_id = ?", (challenge_id,))
    return challenge.attempts + 1


def refund_attempt(registry: Registry, challenge_id: str) -> None:
    """Give back an attempt :func:`reserve_attempt` counted."""
    with registry.transaction() as conn:
        conn.execute("UPDATE consent_challenges SET attempts = MAX(attempts - 1, 0)"
                     " WHERE challenge_id = ?", (challenge_id,))


def claim(registry: Registry, challenge_id: str, consent_id: str, *,
          at: dt.datetime) -> Challenge:
    """Use the challenge up for ``consent_id``, re-checking in the same transaction that it
    is still open at ``at`` (another process may have used it since it was checked)."""
    with registry.transaction() as conn:
        row = conn.execute(_SELECT + " WHERE challenge_id = ?", (challenge_id,)).fetchone()
        if row is None:
            raise ConsentChallengeError(f"freshness: no challenge {challenge_id!r}",
                                        reason="unknown")
        _raise_unless_open(_challenge(row), at)
        conn.execute(
            "UPDATE consent_challenges SET used_at = ?, consent_id = ?"
            " WHERE challenge_id = ? AND used_at IS NULL",
            (format_time(at), consent_id, challenge_id))
    used = get_challenge(registry, challenge_id)
    assert used is not None
    return used


def release(registry: Registry, challenge_id: str, consent_id: str) -> None:
    """Undo :func:`claim` when the consent could not be recorded after all."""
    with registry.transaction() as conn:
        conn.execute(
            "UPDATE consent_challenges SET used_at = NULL, consent_id = NULL"
            " WHERE challenge_id = ? AND consent_id = ?", (challenge_id, consent_id))

