"""Whole numbers from request text, without the surprises of `str.isdigit`, which also
accepts "²" and strings too long for `int`: both would raise, and a raise is a 500."""

MAX_DIGITS = 9


def positive_int(text: str, *, maximum: int = 10**MAX_DIGITS - 1) -> int | None:
    """`text` as a number from 1 to `maximum` if it is written as one in ASCII digits."""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        return None
    number = int(text)
    return number if 1 <= number <= maximum else None
