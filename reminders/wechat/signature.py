"""The signature WeChat puts on every push to the account's callback URL.

`signature = sha1(sorted([token, timestamp, nonce]) joined)` in lowercase hex; in
safe mode `msg_signature` sorts a fourth value, the `Encrypt` element, in with
them. The simulator signs its pushes with `sign`; the receiving view checks them
with `verify`, so both sides agree by construction and the tests pin the
official test vectors.
"""

import hashlib
import hmac


def sign(token: str, timestamp: str, nonce: str, *extra: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce, *extra]))
    # SHA-1 is what the protocol specifies; it is not our choice of hash.
    return hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


def verify(token: str, signature: str, timestamp: str, nonce: str, *extra: str) -> bool:
    """Whether `signature` was made with `token`, compared in constant time."""
    if not (token and signature and timestamp and nonce):
        return False
    expected = sign(token, timestamp, nonce, *extra)
    # As bytes: compare_digest refuses a str with anything but ASCII in it.
    return hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8"))
