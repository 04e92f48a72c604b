"""Typed configuration: `load_config` reads YAML, applies `--set` overrides and validates."""

from dnnconf.config.load import apply_override, config_from_dict, dump_config, load_config
from dnnconf.config.schema import Config

__all__ = ["Config", "apply_override", "config_from_dict", "dump_config", "load_config"]
