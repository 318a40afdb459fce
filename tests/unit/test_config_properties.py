"""Property-based tests of the config loader: whatever text reaches any key, ``load_config`` returns a valid
config or raises ``ConfigError`` with one well-formed ``invalid config:`` line per problem, never anything else.

The bulk runs in process (a load takes well under a millisecond). tests/cli runs a few generated values through
``python app.py -c`` and checks that it prints exactly the loader's lines; tests/compliance synthesizes and
lints the extreme valid configs (each bound at its limit) instead of synthesizing per example.

Settings (``CONFIG_PROPERTIES``): 150 examples for one key, 100 for several keys at once, 50 for unknown keys;
a 250 ms deadline per example (a load takes about a millisecond: the deadline catches a pathological regex or
parser, not a slow machine); no example database (nothing is written into the repository).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_config import AppConfig, ConfigError, load_config
from ml_config.config import config_keys, is_config_key

KEYS = config_keys()

CONFIG_PROPERTIES = settings(
    max_examples=150,
    deadline=250,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Characters careless and hostile input is made of: whitespace and control characters, non-ASCII digits and
# letters that case-fold onto ASCII ones, separators the formats use.
NASTY = "\n\r\t \x00\x0b\u00a0\u2028\uff11\u0663\u017f\u212a\u00e9-_.,/*?#LW()@:=+" + "0123456789" + "abcxyzABC"


def _known_good(key: str) -> list[str]:
    """Texts that are valid for ``key`` alone, the starting points of the mutations below."""
    info = KEYS[key]
    default = info.default
    good = {
        "account": ["123456789012"],
        "region": ["eu-west-1"],
        "alerts.email": ["ops@example.com"],
        "catalog.crawler_schedule": ["cron(15 2 * * ? *)", "cron(0 8 ? * 2#1 *)", "cron(0 0 LW * ? *)"],
        "training.schedule": ["rate(1 day)", "rate(5 minutes)", "cron(0/15 * ? * MON-FRI *)"],
        "training.xgboost_version": ["1.7-1"],
        "stream.shard_count": ["2"],
        "network.cidr": ["10.42.0.0/16", "52.0.0.0/16"],
    }.get(key)
    if good:
        return good
    if isinstance(default, Enum):
        return [str(member.value) for member in type(default)]
    if isinstance(default, bool):
        return ["true", "false"]
    return [str(default)]


def _mutated(base: str) -> st.SearchStrategy[str]:
    """``base`` with a few characters inserted, replaced or deleted: near misses exercise the rules hardest."""
    edits = st.lists(st.tuples(st.integers(0, 64), st.sampled_from(NASTY), st.sampled_from("ird")), max_size=3)

    def apply(changes: list[tuple[int, str, str]]) -> str:
        text = base
        for position, char, kind in changes:
            at = position % (len(text) + 1)
            if kind == "i":
                text = text[:at] + char + text[at:]
            elif kind == "r":
                text = text[:at] + char + text[at + 1 :]
            else:
                text = text[:at] + text[at + 1 :]
        return text

    return edits.map(apply)


def texts_for(key: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=30),
        st.text(alphabet=NASTY, max_size=30),
        st.integers(-(10**12), 10**12).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.sampled_from(_known_good(key)).flatmap(_mutated),
    )


key_and_text = st.sampled_from(sorted(KEYS)).flatmap(lambda key: st.tuples(st.just(key), texts_for(key)))


def outcome(context: dict[str, Any]) -> AppConfig | list[str]:
    """The config, or the problem lines, each checked for form; any other exception fails the test."""
    try:
        return load_config(context)
    except ConfigError as exc:
        lines = exc.problems
        assert lines, "a ConfigError names at least one problem"
        for line in lines:
            assert line.startswith("invalid config: "), line
            assert line.isprintable(), line  # one line: no newline or control character from the input
            assert len(line) < 600, line
        return lines


@CONFIG_PROPERTIES
@given(key_and_text)
def test_any_text_for_any_key_is_a_config_or_one_line(case):
    key, text = case
    result = outcome({key: text})
    if isinstance(result, list):
        assert len(result) == 1, result  # one bad value: one problem
    else:
        # a value that loads is kept as the config holds it: a text key keeps the exact text
        node: Any = result
        for part in key.split("."):
            node = getattr(node, part)
        if isinstance(node, str) and not isinstance(node, Enum):
            assert node == text


@settings(CONFIG_PROPERTIES, max_examples=100)
@given(st.lists(key_and_text, min_size=2, max_size=6, unique_by=lambda case: case[0]))
def test_several_bad_values_give_one_line_each(cases):
    result = outcome(dict(cases))
    if isinstance(result, list):
        # no value reports twice, and no problem is lost in another's line
        assert len(result) <= len(cases), result
        assert len(set(result)) == len(result), result


@settings(CONFIG_PROPERTIES, max_examples=50)
@given(st.text(max_size=40).filter(lambda key: key not in KEYS and is_config_key(key)), st.text(max_size=10))
def test_unknown_keys_give_one_line_each(key, value):
    lines = outcome({key: value})
    assert isinstance(lines, list)
    assert len(lines) == 1
    assert lines[0].startswith(f"invalid config: unknown key {key!r}"[: len("invalid config: unknown key ")])
