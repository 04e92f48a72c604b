"""The command line's shared argument types, which every command module (and a study's options) uses (the
commands import these from here, never from `dnnconf.cli`, so `cli` stays the top that nothing imports).

`Parser`: argparse with one-line errors (exit 2). `whole_number`, `at_most`, `seed_number`: argparse
types for bounded whole numbers.
"""

from __future__ import annotations

import argparse
from typing import Any

from dnnconf.limits import INT64_MAX, INT64_MIN, SEED_MAX, shorten


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints the whole usage)
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def whole_number(minimum: int, why: str = "", maximum: int = INT64_MAX, *, least: int | None = None) -> Any:
    """An argparse type: a whole number in [`minimum`, `maximum`] (`why` says what needs the bounds).

    The default maximum is the 64-bit range torch and numpy take; argparse turns a refusal into one
    line, exit 2, e.g. `argument --seed: -1 must be at least 0 (accepted: 0..9223372036854775807)`.
    `least` is the lower bound the message states when it is not `minimum` (see `at_most`)."""
    accepted = f"accepted: {minimum if least is None else least}..{maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, received {shorten(text)} "
                                              f"({accepted})") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}{': ' + why if why else ''} "
                                              f"({accepted})")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"{shorten(value)} must be at most {maximum}"
                                              f"{': ' + why if why else ''} ({accepted})")
        return value

    parse.__name__ = "count"  # argparse names the type in its messages
    return parse


def at_most(maximum: int = INT64_MAX, least: int = 1, why: str = "") -> Any:
    """An argparse type: a whole number up to `maximum`, for options whose command checks the lower
    bound (`least`, stated in the message) itself and reports it as its own one-line error."""
    return whole_number(INT64_MIN, why, maximum, least=least)


def seed_number(maximum: int = SEED_MAX, why: str = "") -> Any:
    """An argparse type for a seed: a whole number in [0, `maximum`]."""
    return whole_number(0, why, maximum)
