"""The commented YAML template ``sonomics init`` writes: every key of
:class:`~sonomics.config.StudyConfig` with its default and meaning."""

from __future__ import annotations

from pathlib import Path

import yaml

from sonomics.config import StudyConfig


def config_template(manifest: Path | None = None, out: Path | None = None) -> str:
    """A commented YAML config holding every key with its default and meaning.

    ``sonomics init DIR --manifest PATH`` writes this, so that
    ``datasets convert`` -> ``init --manifest`` -> ``run`` needs no hand editing.
    """
    cfg = StudyConfig()
    if manifest is not None:
        cfg.data.manifest = manifest
    if out is not None:
        cfg.out = out
    lines = [
        "# sonomics study configuration. Defaults are the settings of Wang et al. 2024",
        "# (Front. Oncol. 14:1384105). Relative paths are relative to this file.",
        "# Validate the cohort with `sonomics validate THIS_FILE`, run it with `sonomics run`.",
        "",
    ]
    dumped = cfg.model_dump(mode="json")
    top_fields = StudyConfig.model_fields
    for name, field in top_fields.items():
        value = dumped[name]
        section_cls = field.annotation if isinstance(value, dict) else None
        if isinstance(value, dict) and isinstance(section_cls, type):
            lines.append(f"{name}:  # {section_cls.__doc__.strip().splitlines()[0]}")
            for key, sub in section_cls.model_fields.items():
                text = yaml.safe_dump({key: value[key]}, default_flow_style=True,
                                      sort_keys=False).strip()[1:-1]
                note = f"  # {sub.description}" if sub.description else ""
                lines.append(f"  {text}{note}")
        else:
            text = yaml.safe_dump({name: value}, default_flow_style=True).strip()[1:-1]
            note = f"  # {field.description}" if field.description else ""
            lines.append(f"{text}{note}")
        lines.append("")
    return "\n".join(lines)
