"""The session key of the sign-in: where it lives, how it is read, and how it is rotated.

The key signs the session cookie (the sign-in Lambda) and checks it (the edge function). It is kept in two
stores and nowhere else, neither in code nor in an environment variable:
- a Secrets Manager secret, which the stack creates with a random key and the sign-in Lambda reads;
- the edge's CloudFront KeyValueStore, which `deploy` and `rotate-session-key` fill from that secret (a
  CloudFront Function can read nothing else at run time).

Both hold the same JSON, `{"current": KEY, "previous": KEY or "", "previous_until": epoch seconds}`. A rotation
makes a new current key and keeps the old one as `previous` for one session lifetime, so nobody signed in is
thrown out. The KeyValueStore is written first: the edge accepts a key before the Lambda starts signing with it.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SESSION_SECONDS = 8 * 3600  # how long a session cookie is good for, and so how long a rotated-out key is kept
KVS_KEY = "session-keys"  # the one entry in the KeyValueStore (its value is the JSON above)
KEY_PATTERN = re.compile(r"[0-9A-Za-z]{64}")  # the stack's generated key, and ours (64 hex digits)


@dataclass(frozen=True)
class SessionKeys:
    """The key that signs sessions now, and the one rotated out (accepted until `previous_until`)."""

    current: str
    previous: str = ""
    previous_until: int = 0

    def accepted(self, now: float) -> tuple[str, ...]:
        """The keys a cookie may be signed with at `now`."""
        return (self.current, self.previous) if self.previous and now < self.previous_until else (self.current,)

    def rotated(self, now: float) -> SessionKeys:
        """A fresh current key; this one stays accepted for one session lifetime (an older previous is dropped)."""
        return SessionKeys(secrets.token_hex(32), self.current, int(now) + SESSION_SECONDS)

    def to_json(self) -> str:
        return json.dumps({"current": self.current, "previous": self.previous, "previous_until": self.previous_until})

    @classmethod
    def from_json(cls, text: str) -> SessionKeys:
        """Parse the stored JSON; ValueError unless it holds a well-formed current key."""
        doc = json.loads(text)
        if not isinstance(doc, dict) or not KEY_PATTERN.fullmatch(str(doc.get("current", ""))):
            raise ValueError("the stored session keys have no well-formed current key")
        previous = str(doc.get("previous") or "")
        until = doc.get("previous_until", 0)
        if (previous and not KEY_PATTERN.fullmatch(previous)) or not isinstance(until, int):
            raise ValueError("the stored previous session key is malformed")
        return cls(doc["current"], previous, until if previous else 0)


def read_secret(secretsmanager: Any, secret: str) -> SessionKeys:
    """The keys in the stack's secret (ValueError when it holds something else)."""
    return SessionKeys.from_json(secretsmanager.get_secret_value(SecretId=secret)["SecretString"])


def write_edge(keyvaluestore: Any, store: str, keys: SessionKeys) -> None:
    """Put the keys into the edge's KeyValueStore (its writes are conditional on the store's ETag)."""
    etag = keyvaluestore.describe_key_value_store(KvsARN=store)["ETag"]
    keyvaluestore.put_key(KvsARN=store, Key=KVS_KEY, Value=keys.to_json(), IfMatch=etag)


def stores(outputs: Mapping[str, str]) -> tuple[str, str]:
    """The secret's and the KeyValueStore's ARNs from the stack's outputs ("" and "" without sign-in)."""
    return outputs.get("SessionSecretArn", ""), outputs.get("SessionKeyStoreArn", "")


def sync(clients: Mapping[str, Any], outputs: Mapping[str, str]) -> bool:
    """After a deploy: copy the secret's keys to the edge, so both check with the same ones. False: no sign-in."""
    secret, store = stores(outputs)
    if not (secret and store):
        return False
    write_edge(clients["cloudfront-keyvaluestore"], store, read_secret(clients["secretsmanager"], secret))
    return True


def rotate(clients: Mapping[str, Any], outputs: Mapping[str, str], now: float) -> SessionKeys:
    """Make a new session key; the old one stays good for one session lifetime. The edge learns it first."""
    secret, store = stores(outputs)
    keys = read_secret(clients["secretsmanager"], secret).rotated(now)
    write_edge(clients["cloudfront-keyvaluestore"], store, keys)
    clients["secretsmanager"].put_secret_value(SecretId=secret, SecretString=keys.to_json())
    return keys
