"""The sweep report: MLflow runs -> figures, tables and one self-contained HTML page.

Reads MLflow only (no Ray), through the store layer; imports nothing from sweep. Loads first
(load.py), then renders (render.py)."""

from rayprune.report.build import REPORT_FILE, write_report

__all__ = ["REPORT_FILE", "write_report"]
