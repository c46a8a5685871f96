"""Errors a user can act on: the CLI prints their message as one line and exits 1."""

from __future__ import annotations


class LabelsyncError(Exception):
    """A failure caused by input, configuration or an external service, explained in one line."""


class LabelFileError(LabelsyncError, ValueError):
    """A label file or label list is malformed (names the file and line)."""


class DescriptionError(LabelsyncError):
    """An LLM answer could not be turned into valid descriptions for a label."""


class BackendError(LabelsyncError):
    """A generation backend failed (unreachable server, refused key, missing model...)."""


class ConfigError(LabelsyncError, ValueError):
    """An option is unknown, of the wrong type or out of range (named in the message)."""
