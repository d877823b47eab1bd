"""Test-input generators written as a template: a small declarative spec per problem, rendered with a seeded RNG.

The report's generators are programs a model writes with the CYaRon library (report §2.3.5); a template is
the hand-written counterpart for simple stdin formats, in pure Python, so no program has to run to make
inputs. A template is a list of lines, each a list of tokens joined by spaces, and optional fixed inputs
(edge cases, as a CYaRon script also writes by hand):

    {"lines": [[{"int": [1, 8], "as": "n"}], [{"ints": [-100, 100], "len": "n"}]], "fixed": ["1\\n-5\\n"]}

renders inputs like "3\\n-7 42 0\\n". Token kinds (TOKENS, a registry: a new kind is one function):

- {"int": [lo, hi]}: a whole number in [lo, hi]; "as": NAME binds it for later tokens;
- {"ints": [lo, hi], "len": L}: L numbers in [lo, hi], joined by "sep" (default " ");
- {"word": ALPHABET, "len": L}: L characters drawn from ALPHABET;
- {"ref": NAME}: a bound value again; {"text": S}: S as it is.

A length L is a number, a range [lo, hi] or the name of a bound value. Each input has its own RNG seeded by
(seed, problem id, index), so input i is the same whatever the number of inputs asked for.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from k15core.registry import Registry

Env = dict[str, int]
TokenFn = Callable[[random.Random, dict, Env], str]
TOKENS: Registry[TokenFn] = Registry("template token")
OPTIONS = frozenset({"as", "len", "sep"})
"""Keys that modify a token; the one other key of a token names its kind."""


@dataclass(frozen=True)
class GeneratorTemplate:
    lines: tuple[tuple[dict, ...], ...]
    """Each input line: its tokens, rendered in order and joined by single spaces."""
    fixed: tuple[str, ...] = ()
    """Inputs used as they are, before the random ones (hand-picked edge cases)."""


def _range(value: object, what: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{what} must be a range [lo, hi] of two whole numbers, got {value!r}")
    lo, hi = value
    if lo > hi:
        raise ValueError(f"{what} range [{lo}, {hi}] is empty")
    return lo, hi


def _length(token: dict, rng: random.Random, env: Env) -> int:
    """A token's "len": a number, a range [lo, hi] drawn from, or the name of a bound value."""
    value = token.get("len")
    if value is None:
        raise ValueError(f"{token} needs a \"len\": a number, a range [lo, hi] or a name bound with \"as\"")
    if isinstance(value, str):
        if value not in env:
            raise ValueError(f"'len' names {value!r}, which no earlier token binds (bind it with \"as\")")
        length = env[value]
    elif isinstance(value, int) and not isinstance(value, bool):
        length = value
    else:
        length = rng.randint(*_range(value, "'len'"))
    if length < 0:
        raise ValueError(f"'len' is {length}, a length cannot be negative")
    return length


@TOKENS.register("int")
def _int(rng: random.Random, token: dict, env: Env) -> str:
    value = rng.randint(*_range(token["int"], "'int'"))
    if "as" in token:
        env[str(token["as"])] = value
    return str(value)


@TOKENS.register("ints")
def _ints(rng: random.Random, token: dict, env: Env) -> str:
    lo, hi = _range(token["ints"], "'ints'")
    return str(token.get("sep", " ")).join(str(rng.randint(lo, hi)) for _ in range(_length(token, rng, env)))


@TOKENS.register("word")
def _word(rng: random.Random, token: dict, env: Env) -> str:
    alphabet = token["word"]
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"'word' must be a non-empty alphabet string, got {alphabet!r}")
    return "".join(rng.choice(alphabet) for _ in range(_length(token, rng, env)))


@TOKENS.register("ref")
def _ref(rng: random.Random, token: dict, env: Env) -> str:
    if token["ref"] not in env:
        raise ValueError(f"'ref' names {token['ref']!r}, which no earlier token binds")
    return str(env[token["ref"]])


@TOKENS.register("text")
def _text(rng: random.Random, token: dict, env: Env) -> str:
    return str(token["text"])


def _kind(token: object) -> str:
    if not isinstance(token, dict):
        raise ValueError(f"a token must be an object like {{\"int\": [1, 9]}}, got {token!r}")
    kinds = [k for k in token if k not in OPTIONS]
    if len(kinds) != 1 or kinds[0] not in TOKENS.names():
        raise ValueError(f"a token needs exactly one kind of: {', '.join(TOKENS.names())}; got keys {sorted(token)}")
    return kinds[0]


def render_input(template: GeneratorTemplate, rng: random.Random) -> str:
    """One input: every line's tokens rendered and joined by spaces, each line ending in a newline."""
    env: Env = {}
    lines = [" ".join(TOKENS.get(_kind(t))(rng, t, env) for t in line) for line in template.lines]
    return "".join(line + "\n" for line in lines)


def template_inputs(template: GeneratorTemplate, problem_id: str, count: int, seed: int) -> list[str]:
    """The fixed inputs, then `count` random ones; input i uses its own RNG seeded by (seed, problem id, i).

    >>> t = parse_template({"lines": [[{"int": [1, 3], "as": "n"}], [{"ints": [5, 5], "len": "n"}]], "fixed": ["0\\n\\n"]})
    >>> inputs = template_inputs(t, "p", 3, seed=0)
    >>> inputs[0], len(inputs), all(i.split("\\n")[1] == " ".join(["5"] * int(i.split()[0])) for i in inputs[1:])
    ('0\\n\\n', 4, True)
    """
    return list(template.fixed) + [render_input(template, random.Random(f"{seed}/{problem_id}/{i}")) for i in range(count)]


def parse_template(spec: object) -> GeneratorTemplate:
    """A template from its JSON form, checked by rendering it once; ValueError says what is wrong."""
    if not isinstance(spec, dict) or not isinstance(spec.get("lines"), list) or not all(isinstance(line, list) for line in spec["lines"]):
        raise ValueError('a template needs "lines": a list of lines, each a list of tokens')
    fixed = spec.get("fixed", [])
    if not isinstance(fixed, list) or not all(isinstance(f, str) for f in fixed):
        raise ValueError('a template\'s "fixed" must be a list of input texts')
    unknown = sorted(set(spec) - {"lines", "fixed"})
    if unknown:
        raise ValueError(f"a template has only \"lines\" and \"fixed\", not {unknown}")
    template = GeneratorTemplate(lines=tuple(tuple(line) for line in spec["lines"]), fixed=tuple(fixed))
    try:
        render_input(template, random.Random(0))  # every token runs once per input, so one render checks them all
    except (KeyError, TypeError) as err:
        raise ValueError(f"a template token is malformed ({err})") from None
    return template
