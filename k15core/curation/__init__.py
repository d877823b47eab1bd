"""Prompt-set curation from the k1.5 data recipe (report §2.1): difficulty by pass rate and the
easy-to-hack filter. Results are label events with source "auto", so the studio shows them and a
person can override them."""
from k15core.curation.difficulty import difficulty_from_pass_rate, pass_rate
from k15core.curation.hackable import is_easy_to_hack
from k15core.curation.formats import format_issue
from k15core.curation.dedup import find_duplicates
from k15core.curation.run import curate_difficulty, curate_duplicates, curate_formats, curate_hackable

__all__ = ["pass_rate", "difficulty_from_pass_rate", "is_easy_to_hack", "format_issue", "curate_difficulty", "curate_hackable",
           "curate_formats", "curate_duplicates", "find_duplicates"]
