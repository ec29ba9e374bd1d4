"""Help texts say what a setting does (and may point to the README); measured figures live in the
README and benchmarks/results/, where a rerun updates them, never in a help text."""

import re

from engines import registry
from engines.cli import build_parser
from engines.config import field_infos
from engines.train.loop import TrainSettings

MEASURED = re.compile(r"\bmeasured\b|\bon (the )?(CPU-trained )?digits\b|\bin the same CPU time\b|\blooked\b|"
                      r"\d+(\.\d+)? ?(bits/dim|dB|CPU[- ]?(s|seconds|min|minutes)\b)|Fréchet( distance)? \d",
                      re.IGNORECASE)


def _config_helps():
    classes = [TrainSettings]
    for family in registry.all_families():
        classes += [family.config_class, family.engine_class.sampling_config]
    for cls in filter(None, classes):
        for info in field_infos(cls):
            yield f"{cls.__name__}.{info.name}", info.help


def _cli_helps():
    parser = build_parser()
    for sub in parser._subparsers._group_actions[0].choices.values():
        for action in sub._actions:
            if action.help:
                yield f"{sub.prog} {'/'.join(action.option_strings) or action.dest}", action.help


def test_no_help_text_quotes_a_measured_figure():
    found = [f"{where}: {text}" for where, text in [*_config_helps(), *_cli_helps()] if MEASURED.search(text)]
    assert not found, "\n".join(found)
