"""`dnnconf export RUN`: the note's low-latency model from a trained run.

    dnnconf export RUN [--fold-bn] [--prune THRESHOLD | --sparsity S] [--dtype float32|float16|bfloat16|int8]
                       [--onnx FILE] [--out DIR]

Writes the export folder (default RUN/export/: config.yaml, model.safetensors, normalization.json,
export.json, export_report.md, the ONNX file), prints a table of every stage (accuracy, largest logit
difference from the original, parameters, size, latency per example at batch 1 and 256) and appends it
to the run's report.md. Bad input (not a run folder, --sparsity outside [0, 1), --prune with --sparsity)
exits 2 with one line. See `dnnconf.exporting.exporter` for what each step does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dnnconf.arguments import at_most
from dnnconf.limits import MAX_THREADS

DTYPE_CHOICES = ("float32", "float16", "bfloat16", "int8")


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `export` to the `dnnconf` subcommands; its handler is `cmd_export`."""
    parser = subparsers.add_parser(
        "export", help="low-latency model: fold batch norm, prune, float16/bfloat16/int8, ONNX",
        description="Turn a trained run into the note's low-latency model: batch-norm layers folded into the "
                    "adjacent layers, tiny weights zeroed (a sparse model), lower precision, an ONNX graph; "
                    "measure each step's accuracy, size and latency.")
    parser.add_argument("run", help="run folder (from dnnconf train)")
    parser.add_argument("--fold-bn", action="store_true",
                        help="fold every batch-norm layer into the dense/conv layer before it (BN before the "
                             "activation) or after it (BN after the activation)")
    prune = parser.add_mutually_exclusive_group()
    prune.add_argument("--prune", type=float, metavar="THRESHOLD",
                       help="set kernel weights with |w| < THRESHOLD to 0")
    prune.add_argument("--sparsity", type=float, metavar="S",
                       help="set the S share (0 <= S < 1) of each kernel's smallest-magnitude weights to 0")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="float32",
                        help="float16/bfloat16: weights and computation; int8: dynamic quantization of the dense "
                             "layers (default float32)")
    parser.add_argument("--onnx", metavar="FILE",
                        help="also write an ONNX model (opset 17, float32); a relative path goes into the export "
                             "folder (needs: pip install onnx onnxruntime)")
    parser.add_argument("--out", metavar="DIR", help="the export folder (default RUN/export)")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency timings")
    parser.add_argument("--repeats", type=at_most(), default=15,
                        help="timings per latency (their median is reported; default 15)")
    parser.add_argument("--threads", type=at_most(MAX_THREADS), default=None,
                        help="threads while measuring (default: this machine's cores)")
    parser.set_defaults(handler=cmd_export)
    return parser


def cmd_export(args: argparse.Namespace, log: Any = print) -> int:
    from dnnconf.errors import BadInput
    from dnnconf.exporting.exporter import check_options, export_run, print_table

    check_options(args.prune, args.sparsity, args.dtype)  # before the slow part
    if args.threads is not None and args.threads < 1:
        raise BadInput(f"--threads {args.threads}: must be at least 1")
    if args.repeats < 1:
        raise BadInput(f"--repeats {args.repeats}: must be at least 1")
    result = export_run(Path(args.run), fold_bn=args.fold_bn, threshold=args.prune, sparsity=args.sparsity,
                        dtype=args.dtype, onnx=args.onnx, out=Path(args.out) if args.out else None,
                        measure_latency=not args.no_latency, repeats=args.repeats, threads=args.threads)
    print_table(result)
    if result.fold is not None:
        log(f"batch norm: {result.fold['folded']} of {result.fold['batch_norm_layers']} layers folded"
            + "".join(f"\n  kept {reason}" for reason in result.fold["kept"]))
    if result.sparsity is not None:
        log(f"sparsity achieved: {result.sparsity['total']:.1%} of the kernel weights")
    if result.quantization:
        log("int8: model.safetensors holds float32 weights; loading the folder quantizes them again")
    log(f"wrote {result.folder}/: " + ", ".join(p.name for p in result.files if p.parent == result.folder))
    if result.onnx is not None and result.onnx.parent != result.folder:
        log(f"wrote {result.onnx}")
    log(f"appended the Export section to {result.source / 'report.md'}")
    return 0
