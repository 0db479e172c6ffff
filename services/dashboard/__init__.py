"""The built-in dashboard: one HTML page and its static assets (plain SVG charts drawn by small
dependency-free ES modules), served by whichever app serves the reports API."""

from services.dashboard.router import build_dashboard_router

__all__ = ["build_dashboard_router"]
