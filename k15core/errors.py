"""The one error type users see: what is wrong, and how to fix it.

The CLI prints a K15Error as two lines (problem, fix) without a traceback and exits with status 2.
Raise it only for problems the user can act on (bad input, missing files); bugs stay ordinary exceptions.
"""
from __future__ import annotations


class K15Error(Exception):
    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem
        self.fix = fix
        super().__init__(problem + (f"\n  fix: {fix}" if fix else ""))
