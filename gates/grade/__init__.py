"""Grading students' gate implementations: skeleton, isolated runs, scores and reports.

``skeleton_source()`` writes the file students complete; ``grade_submission(path)``
grades one file (each gate in its own limited child process, checked against the
reference forward and numerical derivatives); ``grade_folder(dir)`` grades many;
``format_table``, ``gradescope`` and ``write_json`` render the results.
"""

from .batch import grade_folder
from .grader import grade_submission
from .report import format_table, gradescope, write_json
from .request import GradingError
from .rubric import Rubric, RubricError, load_rubric
from .skeleton import skeleton_source, solution_source

__all__ = ["grade_submission", "grade_folder", "GradingError", "format_table", "gradescope",
           "write_json", "Rubric", "RubricError", "load_rubric", "skeleton_source",
           "solution_source"]
