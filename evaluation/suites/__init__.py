"""Scripted benchmark suites (NIST, tmQM, GeckoQ sets): files, structures, runs, comparisons,
reports."""
