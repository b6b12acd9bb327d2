"""The callback signature, pinned to WeChat's official test vectors (WECHAT.md §3.3)."""

import pytest

from reminders.wechat.signature import sign, verify


@pytest.mark.parametrize(
    ("timestamp", "nonce", "expected"),
    [
        ("1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
    ],
)
def test_the_official_test_vectors(timestamp, nonce, expected):
    assert sign("AAAAA", timestamp, nonce) == expected
    assert verify("AAAAA", expected, timestamp, nonce)


def test_the_order_of_the_values_does_not_matter():
    assert sign("AAAAA", "1714036504", "1514711492") == sign(
        "1514711492", "AAAAA", "1714036504"
    )


@pytest.mark.parametrize(
    ("token", "signature", "timestamp", "nonce"),
    [
        (
            "BBBBB",
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
            "1714036504",
            "1514711492",
        ),
        (
            "AAAAA",
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
            "1714036505",
            "1514711492",
        ),
        ("AAAAA", "", "1714036504", "1514711492"),
        ("", "f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036504", "1514711492"),
        ("AAAAA", "f464b24fc39322e44b38aa78f5edd27bd1441696", "", "1514711492"),
    ],
)
def test_anything_else_does_not_verify(token, signature, timestamp, nonce):
    assert not verify(token, signature, timestamp, nonce)


def test_an_uppercase_signature_verifies():
    assert verify(
        "AAAAA", "F464B24FC39322E44B38AA78F5EDD27BD1441696", "1714036504", "1514711492"
    )


def test_safe_mode_sorts_the_encrypted_body_in_as_a_fourth_value():
    plain = sign("AAAAA", "1714036504", "1514711492")
    with_body = sign("AAAAA", "1714036504", "1514711492", "EncryptedBase64==")

    assert with_body != plain
    assert verify("AAAAA", with_body, "1714036504", "1514711492", "EncryptedBase64==")
    assert not verify("AAAAA", with_body, "1714036504", "1514711492")
