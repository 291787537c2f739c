"""What should a rule be tagged with? Ranked technique suggestions (``ranking``) from a model
(``model``) over the rule's words (``text``), TF-IDF indexes (``term_index``) and a logistic ranker
(``logistic``), all with numpy alone."""

from .ranking import CONFIDENT, attach_suggestions, coverage_suggestions, new_tags, rank, suggest

__all__ = ["CONFIDENT", "attach_suggestions", "coverage_suggestions", "new_tags", "rank", "suggest"]
