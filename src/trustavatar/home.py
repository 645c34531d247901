"""The trustavatar home: where the keystore, trust anchors, config and registry live.

Resolved from, in order: an explicit path, ``$TRUSTAVATAR_HOME``, the user data
directory (``platformdirs.user_data_dir("trustavatar")``). The directory is created
with mode 0700; secrets inside it are 0600.
"""

from __future__ import annotations

__all__ = ["Config", "Home"]

import os
import tomllib
import unicodedata
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs
import tomli_w

from trustavatar._atomic import atomic_write_bytes
from trustavatar._display import visible
from trustavatar.errors import Error, InputError

ENV_VAR = "TRUSTAVATAR_HOME"


def _check_url(value: str) -> None:
    """An http(s) URL with a host and nothing a signer's HTTP client would refuse later
    (spaces, control characters)."""
    bad = InputError(f"tsa_url must be an http(s) URL with a host (and a port of 1-65535 "
                     f"if one is given) and no spaces, got {visible(value)!r}")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # ValueError for a port that is no number or out of range
    except ValueError as e:  # "http://[::1": an unclosed IPv6 address
        raise bad from e
    if (parts.scheme not in ("http", "https") or not parts.hostname or port == 0
            or any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in value)):
        raise bad


@dataclass(frozen=True)
class Config:
    """User settings kept in ``config.toml`` in the home."""

    #: RFC 3161 timestamp authority URL used when signing C2PA manifests (None: no timestamp).
    tsa_url: str | None = None
    #: Other keys found in the file, kept as they are (the organisation a manifest or a
    #: consent names is the signing identity's, from 'keys init --org', not a setting).
    extra: dict[str, object] = field(default_factory=dict)

    KEYS = ("tsa_url",)

    def to_toml(self) -> bytes:
        data: dict[str, object] = dict(self.extra)
        for key in self.KEYS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return tomli_w.dumps(data).encode()

    @classmethod
    def from_toml(cls, raw: bytes, *, source: Path, replacing: str | None = None) -> Config:
        """The settings in ``raw``; ``replacing``: a key about to be set or unset, whose
        value is not checked (so that a damaged one can be put right)."""
        try:
            data = tomllib.loads(raw.decode())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise Error(f"config file {source} is not valid TOML: {e}") from e
        known = {k: data.pop(k) for k in cls.KEYS if k in data}
        known.pop(replacing or "", None)
        for key, value in known.items():
            if not isinstance(value, str):
                raise Error(f"config file {source}: {key} must be a string (fix it with "
                            f"'trustavatar config set {key} URL' or 'config unset {key}')")
            try:  # a hand-edited file:// or malformed URL is not used as it is
                _check_url(value)
            except InputError as e:
                raise Error(f"config file {source}: {e.message} (fix it with 'trustavatar "
                            f"config set {key} URL' or 'config unset {key}')") from e
        return cls(**known, extra=data)

    def with_value(self, key: str, value: str | None) -> Config:
        if key not in self.KEYS:
            raise InputError(f"unknown config key {key!r}; known keys: {', '.join(self.KEYS)}")
        if value is not None:
            _check_url(value)
        return replace(self, tsa_url=value)


@dataclass(frozen=True)
class Home:
    """A trustavatar home. Use :meth:`resolve`; nothing is created until :meth:`ensure`."""

    root: Path

    @classmethod
    def resolve(cls, path: Home | str | os.PathLike[str] | None = None) -> Home:
        """The home at ``path`` (a folder, or a Home as it is), else ``$TRUSTAVATAR_HOME``,
        else the user data folder."""
        if isinstance(path, Home):
            return path
        source = "a trustavatar home"
        if path is None:
            path = os.environ.get(ENV_VAR) or platformdirs.user_data_dir("trustavatar")
            if os.environ.get(ENV_VAR):
                source = f"${ENV_VAR}"
        if not isinstance(path, str | os.PathLike) or not str(path).strip():
            raise InputError(f"{source} must be a folder path or a Home, got {path!r}")
        try:
            root = Path(path).expanduser().absolute()
        except RuntimeError as e:  # "~user/…" for a user this system does not know
            raise InputError(f"{source} {str(path)!r}: {e}") from e
        if root.exists() and not root.is_dir():  # every command would say something odd
            raise InputError(f"{source} {str(path)!r} is a file, not a folder")
        return cls(root)

    # Layout -------------------------------------------------------------------------
    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def trust_dir(self) -> Path:
        return self.root / "trust"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def registry_path(self) -> Path:
        return self.root / "registry.sqlite3"

    def ensure(self) -> Home:
        """Create the home and its private sub-directories (mode 0700)."""
        for d in (self.root, self.keys_dir, self.trust_dir):
            try:
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
                d.chmod(0o700)
            except OSError as e:
                raise Error(f"cannot create trustavatar home directory {d}: {e.strerror}") from e
        return self

    # Config -------------------------------------------------------------------------
    def load_config(self, *, replacing: str | None = None) -> Config:
        """The home's settings (``replacing``: see :meth:`Config.from_toml`)."""
        try:
            raw = self.config_path.read_bytes()
        except FileNotFoundError:
            return Config()
        except OSError as e:
            raise Error(f"cannot read {self.config_path}: {e.strerror}") from e
        return Config.from_toml(raw, source=self.config_path, replacing=replacing)

    def save_config(self, config: Config) -> None:
        self.ensure()
        atomic_write_bytes(self.config_path, config.to_toml(), mode=0o600)
