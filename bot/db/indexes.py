"""Indexes the read side (dashboard and API) needs, kept apart from the table definitions."""

from __future__ import annotations
