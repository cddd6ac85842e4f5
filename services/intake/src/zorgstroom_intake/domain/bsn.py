"""The BSN (burgerservicenummer): its eleven-test, and the pseudonym that replaces it at the door."""

import hashlib
import hmac

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def passes_eleven_test(bsn: str) -> bool:
    """Nine digits whose weighted sum (9..2, and -1 for the last) is a multiple of 11, not zero."""
    if len(bsn) != 9 or not bsn.isascii() or not bsn.isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(bsn, _WEIGHTS, strict=True))
    return total % 11 == 0 and total != 0


def client_ref_for(bsn: str, secret: bytes) -> str:
    """HMAC-SHA256 of the BSN under the region's secret: stable per person, useless without the key."""
    return hmac.new(secret, bsn.encode("ascii"), hashlib.sha256).hexdigest()
