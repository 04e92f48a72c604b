"""`dnnconf list [FAMILY]`: the names each registry knows, with their aliases and parameters."""

from __future__ import annotations

import argparse
from typing import Any

FAMILIES = ("initializers", "activations", "optimizers", "schedules", "regularizers", "constraints", "layers")


def add_command(commands: Any) -> None:
    listing = commands.add_parser("list", help="the names each registry knows")
    listing.add_argument("family", nargs="?", choices=FAMILIES)
    listing.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from dnnconf.nn.activations import ACTIVATIONS
    from dnnconf.nn.constraints import CONSTRAINTS
    from dnnconf.nn.initializers import INITIALIZERS
    from dnnconf.nn.layers import LAYERS
    from dnnconf.nn.regularizers import REGULARIZERS
    from dnnconf.optim.optimizers import OPTIMIZERS
    from dnnconf.optim.schedules import SCHEDULES

    registries = {"initializers": INITIALIZERS, "activations": ACTIVATIONS, "optimizers": OPTIMIZERS,
                  "schedules": SCHEDULES, "regularizers": REGULARIZERS, "constraints": CONSTRAINTS, "layers": LAYERS}
    chosen = [args.family] if args.family else list(registries)
    for family in chosen:
        print(f"{family}:")
        for entry in registries[family]:
            params = ", ".join(entry.params.model_fields)
            aliases = f" (also {', '.join(entry.aliases)})" if entry.aliases else ""
            print(f"  {entry.name:<20} {entry.description}{aliases}" + (f"  [{params}]" if params else ""))
    return 0
