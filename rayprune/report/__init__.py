"""The sweep report: MLflow runs -> figures, tables and one self-contained HTML page.

Reads MLflow only (no Ray); sits after `sweep` (whose tracking helpers it reuses) and before
the CLI."""

from rayprune.report.build import REPORT_FILE, write_report

__all__ = ["REPORT_FILE", "write_report"]
