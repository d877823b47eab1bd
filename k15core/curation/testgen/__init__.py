"""Generated test cases for code problems (report §2.3.5): `k15 curate testgen`.

- `rules`: the pure rules (a case's expected output is the references' majority at >= 70%; a problem is kept
  when >= 90% of references pass every valid case; it needs valid cases for >= 80% of the inputs asked for);
- `template`: declarative, seeded input generators (the hand-written counterpart of a CYaRon script);
- `harness`: references and generator programs run in the code sandbox;
- `problems`: the problem file read, the code-task prompt file written;
- `run`: the pipeline, its report, and the generator-writer hook for model-written generators.
"""
from k15core.curation.testgen.problems import GeneratedProblem, GeneratorProgram, TestCase, TestgenProblem, load_problems, write_prompt_file
from k15core.curation.testgen.rules import TestgenRules, enough_valid_cases, judge_problem, keeps_problem, majority_output, min_agreeing
from k15core.curation.testgen.run import TestgenConfig, TestgenReport, generate_tests, load_writer

__all__ = ["TestgenProblem", "GeneratorProgram", "GeneratedProblem", "TestCase", "load_problems", "write_prompt_file", "TestgenRules",
           "min_agreeing", "majority_output", "keeps_problem", "enough_valid_cases", "judge_problem", "TestgenConfig", "TestgenReport",
           "generate_tests", "load_writer"]
