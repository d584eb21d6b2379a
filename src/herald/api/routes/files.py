"""Recipient files (CSV or XLSX) for a scheduled campaign."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["campaigns"])
