"""What *compliant* means (SPEC §2): a YAML policy validated into typed sections with shipped defaults.

A policy file is optional; any section or key it leaves out keeps the default below,
so a province writes down only where it differs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AvPolicy(_Section):
    max_signature_age_days: float = Field(default=7, gt=0)
    require_realtime: bool = True


class PatchPolicy(_Section):
    fail_on_regular_updates: bool = False
    fail_on_reboot_required: bool = True
    fail_on_eol: bool = True


class Policy(_Section):
    """The whole policy; `Policy()` is the shipped default."""

    av: AvPolicy = Field(default_factory=AvPolicy)
    patches: PatchPolicy = Field(default_factory=PatchPolicy)
    source: str = "(defaults)"


def load_policy(path: Path | None) -> Policy:
    """The policy at `path`, or the shipped defaults; errors name file, line and field."""
    if path is None:
        return Policy()
    from raquet.yamlfile import load_model

    policy = load_model(path, Policy)
    return policy.model_copy(update={"source": str(path)})
