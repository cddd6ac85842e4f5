"""The BSN's eleven-test and its pseudonym."""

import pytest

from zorgstroom_intake.domain.bsn import client_ref_for, passes_eleven_test


@pytest.mark.parametrize("bsn", ["111222333", "123456782", "999999990"])
def test_numbers_that_pass_the_eleven_test_are_accepted(bsn: str) -> None:
    assert passes_eleven_test(bsn)


@pytest.mark.parametrize(
    "bsn", ["123456789", "111222334", "000000000", "12345678", "1234567890", "12345678a", "１１１２２２３３３"]
)
def test_numbers_that_fail_the_eleven_test_or_the_form_are_refused(bsn: str) -> None:
    assert not passes_eleven_test(bsn)


def test_the_pseudonym_is_stable_per_person_and_secret() -> None:
    assert client_ref_for("111222333", b"a") == client_ref_for("111222333", b"a")
    assert client_ref_for("111222333", b"a") != client_ref_for("111222333", b"b")
    assert client_ref_for("111222333", b"a") != client_ref_for("123456782", b"a")
    assert "111222333" not in client_ref_for("111222333", b"a")
