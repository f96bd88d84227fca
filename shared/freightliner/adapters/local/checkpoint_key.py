"""The key that authenticates local checkpoints: 32 random bytes (hex) in a file only its
owner can read, created on first use.

A checkpoint's definition is what a resume copies where, so it carries an HMAC under this
key: anyone able to edit the checkpoint file but not to read the key cannot make a resume
copy elsewhere. The default file is per user (`$XDG_CONFIG_HOME/freightliner/checkpoint.key`,
else `~/.config/...`); a team sharing checkpoints points FREIGHTLINER_CHECKPOINT_KEY at a
shared key file instead.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from freightliner.domain.errors import InvalidInput

KEY_BYTES = 32


def default_key_path(config_home: str | None) -> Path:
    base = Path(config_home) if config_home else Path.home() / ".config"
    return base / "freightliner" / "checkpoint.key"


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, created (mode 0600, its folder 0700) when there is none yet."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise InvalidInput(f"cannot create checkpoint key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a hex key"
        raise InvalidInput(f"cannot read checkpoint key {path}: {reason}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"checkpoint key {path} is accessible to other users: `chmod 600 {path}`"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise InvalidInput(
            f"checkpoint key {path} is not {KEY_BYTES} bytes of hex; restore it, or move it "
            "away to create a new one (checkpoints it signed can then not be resumed)"
        )
    return key
