"""The local CloudWatch Logs JSON filter-pattern evaluator against the AWS documentation's own examples.

Examples and expected results come from the CloudWatch Logs User Guide, "Filter pattern syntax" ->
"Using filter patterns to match terms in JSON log events" (single conditions, compound conditions,
special considerations, numeric comparisons, OR matching). Rows marked "(added)" are extra cases for the
documented rules.
"""

from __future__ import annotations

import json

import pytest

from cwfilter import FilterPatternError, matches, parse, selectors

# The guide's first example event.
TRAIL_EVENT = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
    }
)

# The guide's compound-condition example event.
USERS_EVENT = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)

NUMBERS_EVENT = json.dumps(
    {
        "latency": 1500,
        "numbers": [0.001, 20000],
        "processes": [{}, {}, {}, {}, {"averageRuntime": 55.5}],
        "errorCode": 400,
        "label": "400",
    }
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.eventType = "UpdateTrail" }', True),
        ("{ $.sourceIPAddress != 123.123.* }", True),
        ('{ $.arrayKey[0] = "value" }', True),
        ("{ $.objectList[1].id = 2 }", True),
        ("{ $.SomeObject IS NULL }", True),
        ("{ $.SomeOtherObject NOT EXISTS }", True),
        ("{ $.ThisFlag IS TRUE }", True),
        # (added) the converse of each documented rule
        ('{ $.eventType = "DeleteTrail" }', False),
        ("{ $.sourceIPAddress != 111.111.* }", False),
        ('{ $.arrayKey[1] = "value" }', False),
        ('{ $.eventType[0] = "UpdateTrail" }', False),  # not an array
        ("{ $.objectList[5].id = 2 }", False),  # no such element
        ("{ $.objectList[0].missing = 2 }", False),
        ("{ $.ThisFlag IS FALSE }", False),
        ("{ $.SomeObject NOT EXISTS }", False),  # null is present
        ("{ $.SomeOtherObject IS NULL }", False),  # absent is not null
        ("{ $.eventType IS NULL }", False),
        ("{ $.eventType NOT EXISTS }", False),
        ('{ $.SomeOtherObject != "x" }', False),  # != needs the property
        ('{ $.SomeObject != "x" }', False),  # != on null
    ],
)
def test_given_the_guides_trail_event_when_a_single_condition_is_applied_then_it_matches_as_documented(
    pattern: str, expected: bool
) -> None:
    assert matches(pattern, TRAIL_EVENT) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.eventType = "*Trail" }', True),  # *Event matches PutEvent
        ("{ $.eventType = Update* }", True),  # Event* matches EventId
        ('{ $.eventType = "*dateTr*" }', True),
        ("{ $.eventType = Up*ail }", False),  # Ev*ent only matches the literal text Ev*ent
        ('{ $.eventType = "*Update" }', False),
        ('{ $.eventType = "*" }', True),
        ('{ $.SomeOtherObject = "*" }', False),
        ('{ $.SomeObject = "*" }', False),
        ('{ $.arrayKey = "*" }', False),
    ],
)
def test_given_a_string_with_asterisks_when_compared_then_only_leading_and_trailing_ones_are_wildcards(
    pattern: str, expected: bool
) -> None:
    assert matches(pattern, TRAIL_EVENT) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
        ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
        (
            '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }',
            True,
        ),
        (
            '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }',
            False,
        ),
        # (added) nested arrays and precedence
        ("{ $.coordinates[1][2] = 6 }", True),
        ('{ $.actions[2] = "DELETE" && ($.user.id = 9 || $.users[1].id = 3) }', True),
        ('{ $.actions[2] = "DELETE" && $.user.id = 9 || $.users[1].id = 3 }', True),
        ('{ $.actions[2] = "GET" && ($.user.id = 9 || $.users[1].id = 3) }', False),
    ],
)
def test_given_the_guides_users_event_when_compound_conditions_are_applied_then_and_binds_tighter_than_or(
    pattern: str, expected: bool
) -> None:
    assert matches(pattern, USERS_EVENT) is expected


@pytest.mark.parametrize(
    ("event", "pattern", "expected"),
    [
        ('{"foo": "bar"}', "{$.foo = bar}", True),
        ('{"foo": "baz"}', "{$.foo = bar}", False),
        ('{"foo": "baz"}', "{$.foo = baz }", True),
        ('{"foo": "bar"}', "{$.foo = bar || $.foo = baz }", True),
        ('{"foo": "baz"}', "{$.foo = bar || $.foo = baz }", True),
        ('{"foo": "qux"}', "{$.foo = bar || $.foo = baz }", False),
    ],
)
def test_given_the_guides_or_example_when_either_value_is_present_then_the_or_pattern_matches(
    event: str, pattern: str, expected: bool
) -> None:
    assert matches(pattern, event) is expected


@pytest.mark.parametrize("pattern", ["{$.users = 1}", "{$.users != 1}", '{$.users = "*"}'])
def test_given_a_selector_that_points_to_an_array_when_compared_then_neither_equal_nor_unequal_match(
    pattern: str,
) -> None:
    assert matches(pattern, '{"users": [1, 2, 3]}') is False


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{ $.latency >= 500 }", True),
        ("{ $.numbers[0] < 10e3 }", True),
        ("{ $.numbers[0] < 10e-3 }", True),
        ("{ $.processes[4].averageRuntime <= 55.5 }", True),
        ("{ $.errorCode = 400 }", True),
        ("{ $.errorCode != 500 }", True),
        ("{ $.latency > +1000 }", True),
        # (added) the other side of each comparison, and type strictness
        ("{ $.latency < 500 }", False),
        ("{ $.numbers[1] < 10e3 }", False),
        ("{ $.numbers[0] > 10e-3 }", False),
        ("{ $.processes[4].averageRuntime < 55.5 }", False),
        ("{ $.errorCode != 400 }", False),
        ("{ $.errorCode = 400.0 }", True),
        ("{ $.latency > -1 }", True),
        ("{ $.label = 400 }", False),  # a string is not a number
        ('{ $.errorCode = "400" }', False),  # a number is not a string
        ("{ $.missing != 1 }", False),
        ("{ $.latency = * }", True),  # the guide's metricValue example
    ],
)
def test_given_numeric_values_when_compared_with_numeric_operators_then_they_compare_as_numbers(
    pattern: str, expected: bool
) -> None:
    assert matches(pattern, NUMBERS_EVENT) is expected


@pytest.mark.parametrize(
    "event",
    [
        "",
        "START RequestId: 8f5a Version: $LATEST",
        '[INFO] {"kind": "pull_request", "verdict": "non_compliant"}',  # a prefixed line is text, not JSON
        'acme/api#12 is non-compliant! "verdict": "non_compliant"',
        '[{"kind": "pull_request", "verdict": "non_compliant"}]',  # JSON, but not an object
        '"non_compliant"',
        '{"kind": "pull_request", "verdict": "non_compliant"',  # truncated
    ],
)
def test_given_an_event_that_is_not_a_json_object_when_a_json_pattern_is_applied_then_it_never_matches(
    event: str,
) -> None:
    assert matches('{ $.verdict = "non_compliant" || $.kind NOT EXISTS }', event) is False


@pytest.mark.parametrize(
    "pattern",
    [
        "ERROR",  # text term
        '"is non-compliant!"',  # quoted text term
        "?ERROR ?WARN",
        "[ip, user, status_code = 4*]",  # space-delimited
        "",
        "{}",
        '{ $.verdict = "non_compliant" ',  # unclosed brace
        '{ ($.verdict = "non_compliant" }',  # unclosed parenthesis
        '{ $.verdict = "non_compliant") }',
        '{ $.verdict == "non_compliant" }',
        '{ $.verdict = "non_compliant" & $.kind = "x" }',
        '{ $.verdict = "non_compliant" | $.kind = "x" }',
        '{ $.verdict = "non_compliant" AND $.kind = "x" }',
        '{ $.verdict = "non_compliant" is non-compliant }',  # trailing text term
        '{ verdict = "non_compliant" }',  # selector without $
        '{ $verdict = "non_compliant" }',
        "{ $.* = 1 }",
        "{ $.a..b = 1 }",
        "{ $.a[x] = 1 }",
        "{ $[0] = 1 }",
        "{ $.emergency = true }",  # use IS TRUE
        "{ $.emergency = null }",
        "{ $.emergency is true }",  # keywords are upper case
        "{ $.emergency IS MAYBE }",
        "{ $.emergency NOT THERE }",
        "{ $.emergency EXISTS }",
        "{ $.latency > fast }",  # ordering needs a number
        "{ $.latency >= }",
        "{ $.message = %bind: address% }",  # regular expressions are not supported here
        '{ $.message = "a\\nb" }',  # unsupported escape
        "{ $.message = user@example.com }",  # must be quoted
        "{ $.a = 1 } { $.b = 2 }",
    ],
)
def test_given_a_pattern_outside_the_json_syntax_when_parsed_then_it_raises_instead_of_matching(
    pattern: str,
) -> None:
    with pytest.raises(FilterPatternError):
        parse(pattern)
    with pytest.raises(FilterPatternError):
        matches(pattern, '{"verdict": "non_compliant"}')


def test_given_quoted_strings_with_escapes_and_spaces_when_compared_then_they_match_the_exact_text() -> None:
    event = json.dumps({"title": 'say "hi" \\ bye', "message": "bind: address already in use"})
    assert matches('{ $.title = "say \\"hi\\" \\\\ bye" }', event) is True
    assert matches('{ $.message = "bind: address already in use" }', event) is True
    assert matches('{ $.message = "bind: address" }', event) is False
    assert matches('{ $.message = "bind: address*" }', event) is True


def test_given_a_compound_pattern_when_its_selectors_are_listed_then_they_come_in_order() -> None:
    pattern = '{ ($.kind = "pull_request") && ($.emergency IS TRUE || $.labels[0] NOT EXISTS) }'
    assert selectors(pattern) == ["$.kind", "$.emergency", "$.labels[0]"]


def test_given_the_same_pattern_when_parsed_twice_then_the_trees_are_equal_and_structured() -> None:
    tree = parse('{ $.a = 1 || $.b = "x" && $.c IS NULL }')
    assert tree == parse('{$.a=1||$.b="x"&&$.c IS NULL}')
    assert type(tree).__name__ == "Or"
    assert [type(item).__name__ for item in tree.items] == ["Comparison", "And"]  # type: ignore[union-attr]
