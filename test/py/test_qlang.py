"""Tests for the query filter language: text to JSON list form, parse errors,
and how list-command arguments become filters."""

import re

import pytest

from ganeti import errors, qlang

# (text, expected JSON list form)
VALID = [
    # bare fields and boolean combinations
    ("name", ["?", "name"]),
    ("admin_state", ["?", "admin_state"]),
    ("disk.sizes/0", ["?", "disk.sizes/0"]),
    ("nic.mac/1.x", ["?", "nic.mac/1.x"]),
    ("notes", ["?", "notes"]),
    ("android", ["?", "android"]),
    ("a and b", ["&", ["?", "a"], ["?", "b"]]),
    ("a and b and c", ["&", ["?", "a"], ["?", "b"], ["?", "c"]]),
    ("a or b", ["|", ["?", "a"], ["?", "b"]]),
    ("a or b or c", ["|", ["?", "a"], ["?", "b"], ["?", "c"]]),
    ("not a", ["!", ["?", "a"]]),
    ("not not a", ["!", ["!", ["?", "a"]]]),
    ("not not not a", ["!", ["!", ["!", ["?", "a"]]]]),
    # precedence: not > and > or
    ("a or b and c", ["|", ["?", "a"], ["&", ["?", "b"], ["?", "c"]]]),
    ("a and b or c", ["|", ["&", ["?", "a"], ["?", "b"]], ["?", "c"]]),
    ("a and b or c and d",
     ["|", ["&", ["?", "a"], ["?", "b"]], ["&", ["?", "c"], ["?", "d"]]]),
    ("not a and b", ["&", ["!", ["?", "a"]], ["?", "b"]]),
    ("not a or not b", ["|", ["!", ["?", "a"]], ["!", ["?", "b"]]]),
    # parentheses
    ("(a)", ["?", "a"]),
    ("((a))", ["?", "a"]),
    ("(a or b) and c", ["&", ["|", ["?", "a"], ["?", "b"]], ["?", "c"]]),
    ("(a and b) and c", ["&", ["&", ["?", "a"], ["?", "b"]], ["?", "c"]]),
    ("not (a or b)", ["!", ["|", ["?", "a"], ["?", "b"]]]),
    ("not(a)", ["!", ["?", "a"]]),
    ("not (not a and (b or not c))",
     ["!", ["&", ["!", ["?", "a"]], ["|", ["?", "b"], ["!", ["?", "c"]]]]]),
    # comparisons
    ('name == "web1"', ["==", "name", "web1"]),
    ('name = "web1"', ["==", "name", "web1"]),
    ('name != "web1"', ["!=", "name", "web1"]),
    ("be/memory < 512", ["<", "be/memory", 512]),
    ("be/memory <= 512", ["<=", "be/memory", 512]),
    ("be/memory > 512", [">", "be/memory", 512]),
    ("be/memory >= 512", [">=", "be/memory", 512]),
    ("a<1", ["<", "a", 1]),
    ('name=="x"', ["==", "name", "x"]),
    ('a == "x"and b', ["&", ["==", "a", "x"], ["?", "b"]]),
    ("offset == -5", ["==", "offset", -5]),
    ("offset == +5", ["==", "offset", 5]),
    ("offset == -0", ["==", "offset", 0]),
    ("size >= 007", [">=", "size", 7]),
    # quoting and escapes
    ("name == 'web1'", ["==", "name", "web1"]),
    ('name == ""', ["==", "name", ""]),
    (r'x == "a\"b"', ["==", "x", 'a"b']),
    (r"x == 'a\'b'", ["==", "x", "a'b"]),
    (r'x == "a\\b"', ["==", "x", "a\\b"]),
    (r'x == "tab\there"', ["==", "x", "tab\there"]),
    ("x == \"it's\"", ["==", "x", "it's"]),
    ("x == 'say \"hi\"'", ["==", "x", 'say "hi"']),
    ('x == "a and b or not c"', ["==", "x", "a and b or not c"]),
    ('x == "(" or y', ["|", ["==", "x", "("], ["?", "y"]]),
    # list membership
    ('"foo" in tags', ["=[]", "tags", "foo"]),
    ("'foo' in tags", ["=[]", "tags", "foo"]),
    ("5 in nic.vlans", ["=[]", "nic.vlans", 5]),
    ("-5 in nic.vlans", ["=[]", "nic.vlans", -5]),
    ('"foo" not in tags', ["!", ["=[]", "tags", "foo"]]),
    ('not "foo" in tags', ["!", ["=[]", "tags", "foo"]]),
    ('"a" in tags and "b" not in tags',
     ["&", ["=[]", "tags", "a"], ["!", ["=[]", "tags", "b"]]]),
    # regular expressions: delimiters, escapes, flags
    ("name =~ /^web/", ["=~", "name", "^web"]),
    ("name =~ m/^web/", ["=~", "name", "^web"]),
    ("name =~ #^web#", ["=~", "name", "^web"]),
    ("name =~ m#^web#", ["=~", "name", "^web"]),
    ("name =~ ^web.*^", ["=~", "name", "web.*"]),
    ("name =~ |web|", ["=~", "name", "web"]),
    ("name =~ /web/i", ["=~", "name", "(?i)web"]),
    ("name =~ m/^node.*example.com$/i", ["=~", "name", "(?i)^node.*example.com$"]),
    ("name =~ /web/s", ["=~", "name", "(?s)web"]),
    ("name =~ /web/is", ["=~", "name", "(?is)web"]),
    ("name =~ /web/si", ["=~", "name", "(?is)web"]),
    ("name =~ /web/ii", ["=~", "name", "(?i)web"]),
    ("name=~/web/i", ["=~", "name", "(?i)web"]),
    ("name =~ //", ["=~", "name", ""]),
    ("name =~ / x /", ["=~", "name", " x "]),
    (r"name =~ /\d+/", ["=~", "name", r"\d+"]),
    (r"name =~ /a\/b/", ["=~", "name", "a/b"]),
    (r"name =~ /a\\/", ["=~", "name", "a\\\\"]),
    (r"name =~ #a\#b#", ["=~", "name", "a#b"]),
    (r"name =~ |a\|b|", ["=~", "name", r"a\|b"]),
    (r"name =~ ^x\^y^", ["=~", "name", r"x\^y"]),
    ("name =~ /a|b/", ["=~", "name", "a|b"]),
    ("name !~ /^web/", ["!", ["=~", "name", "^web"]]),
    ("name !~ m/^web/i", ["!", ["=~", "name", "(?i)^web"]]),
    ("name =~ /x/ and not y", ["&", ["=~", "name", "x"], ["!", ["?", "y"]]]),
    # DNS-style globs
    ('name =* "web*"', ["=~", "name", r"^web[^.]*(\..*)?$"]),
    ("name =* 'web?'", ["=~", "name", r"^web[^.](\..*)?$"]),
    ('name =* "*.example.com"', ["=~", "name", r"^[^.]*\.example\.com(\..*)?$"]),
    ('name =* ""', ["=~", "name", r"^(\..*)?$"]),
    ('name !* "web*"', ["!", ["=~", "name", r"^web[^.]*(\..*)?$"]]),
    # whitespace
    ("  a   and\tb\n", ["&", ["?", "a"], ["?", "b"]]),
    # a realistic mix
    (('(pnode == "node1" or snodes =* "node2*") and not admin_state and '
      '"prod" in tags'),
     ["&", ["|", ["==", "pnode", "node1"],
            ["=~", "snodes", r"^node2[^.]*(\..*)?$"]],
      ["!", ["?", "admin_state"]], ["=[]", "tags", "prod"]]),
]

# (text, part of the error message that must appear)
INVALID = [
    ("a and", "Expected condition"),
    ("a or", "Expected condition"),
    ("and", "Expected condition"),
    ("or a", "Expected condition"),
    ("not", "Expected condition"),
    ("a or or b", "Expected condition"),
    ("in", "Expected condition"),
    ("()", "Expected condition"),
    ("(a", "Expected ')'"),
    ("a)", "Expected end of text"),
    ("a b", "Expected end of text"),
    ("a == ", "Expected value"),
    ("a == b", "Expected value"),
    ("a == true", "Expected value"),
    ("a == 1.5", "Expected end of text"),
    ("a == +-1", "Expected value"),
    ('a == "abc', "Expected value"),
    ("a == 'abc\\'", "Expected value"),
    ("a ==== b", "Expected value"),
    ('a == "x" b', "Expected end of text"),
    ('1 == a', "Expected Keyword 'in'"),
    ("1 not a", "Expected Keyword 'in'"),
    ("1 in", "Expected field name"),
    ('"x" in 5', "Expected field name"),
    ("a in b", "Expected end of text"),
    ("_a", "Expected condition"),
    ("9a", "Expected Keyword 'in'"),
    ("a =~ m", "Expected regular expression"),
    ("a =~ /abc", "Expected regular expression"),
    ('a =~ "abc"', "Expected regular expression"),
    ("a =~ /(/", "Invalid regular expression '('"),
    ("a =~ /[/", "Invalid regular expression '['"),
    ("a =~ /x/q", "Unknown regular expression flag(s) 'q'"),
    ("a =~ /x/ix", "Unknown regular expression flag(s) 'x'"),
    ("a =~ /x/ i", "Expected end of text"),
    ("a =* web*", "Expected quoted string"),
    ("a =* 5", "Expected quoted string"),
    ("a == 'x' and", "Expected condition"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_filter_translates_to_json_form(text, expected):
    assert qlang.parse_filter(text) == expected


def test_enough_cases():
    assert len(VALID) >= 40
    assert len(INVALID) >= 20


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_parse_filter_rejects_invalid_text(text, fragment):
    with pytest.raises(errors.QueryFilterParseError) as info:
        qlang.parse_filter(text)
    message = str(info.value)
    assert message.startswith("Error while parsing query filter: ")
    assert fragment in message
    # the offending text is echoed with a position marker under it
    assert text.strip() in message or text.splitlines()[0] in message
    assert "^" in message.splitlines()[-1]


def test_parse_error_marker_points_at_problem():
    with pytest.raises(errors.QueryFilterParseError) as info:
        qlang.parse_filter("name == x")
    lines = str(info.value).splitlines()
    assert "(at char 8)" in lines[0]
    assert lines[1] == "  name == x"
    assert lines[2] == "  " + " " * 8 + "^"


def test_parse_error_is_a_parse_error():
    assert issubclass(errors.QueryFilterParseError, errors.ParseError)


@pytest.mark.parametrize("text", ["", " ", "\t\n  "])
def test_blank_filter_is_none(text):
    assert qlang.parse_filter(text) is None


def test_parse_filter_returns_plain_lists():
    result = qlang.parse_filter('not (a and "x" in b)')
    assert type(result) is list
    assert type(result[1]) is list
    assert type(result[1][2]) is list


@pytest.mark.parametrize(("pattern", "matching", "not_matching"), [
    ("web*", ["web", "web1", "web1.example.com"], ["xweb1", "we", "wex1"]),
    ("web?", ["web1", "web1.example.com"], ["web", "web12", "web.x"]),
    ("*.example.com", ["a.example.com", "a.example.com.au"], ["a.b.example.com"]),
    ("a+b", ["a+b"], ["aab"]),
])
def test_glob_to_regex_semantics(pattern, matching, not_matching):
    regex = re.compile(qlang.glob_to_regex(pattern))
    for name in matching:
        assert regex.match(name), name
    for name in not_matching:
        assert not regex.match(name), name


@pytest.mark.parametrize(("text", "match", "no_match"), [
    ("n =~ /^WEB/i", "web1", "aweb1"),
    ("n =~ /a.b/s", "a\nb", "ab"),
    ("n =~ |a\\|b|", "a|b", "a"),
    ("n =~ /a\\/b/", "a/b", "ab"),
])
def test_regex_results_behave_as_written(text, match, no_match):
    pattern = re.compile(qlang.parse_filter(text)[2])
    assert pattern.search(match)
    assert not pattern.search(no_match)


# --- argument interpretation (cli.md 1.1) -----------------------------------------
@pytest.mark.parametrize("arg", [
    "a!b", 'a"b', "a'b", "(a", "a)", "a/b", "a<b", "a>b", "a=b", "a\\b", "a~b",
    "a b", "a\tb", "not offline", " web1",
])
def test_is_filter_text_true(arg):
    assert qlang.is_filter_text(arg)


@pytest.mark.parametrize("arg", ["offline", "web1", "web1.example.com", "web*", "web?",
                                 "node-1_a", "", "123", "a,b", "a:b"])
def test_is_filter_text_false(arg):
    assert not qlang.is_filter_text(arg)


def test_make_simple_filter_names_and_globs():
    assert qlang.make_simple_filter("name", ["a", "b*", "c?.x"]) == [
        "|", ["=", "name", "a"],
        ["=~", "name", r"^b[^.]*(\..*)?$"],
        ["=~", "name", r"^c[^.]\.x(\..*)?$"],
    ]


def test_make_simple_filter_single_value_still_ored():
    assert qlang.make_simple_filter("node", ["n1"]) == ["|", ["=", "node", "n1"]]


def test_make_simple_filter_empty_is_none():
    assert qlang.make_simple_filter("name", []) is None


def test_make_simple_filter_numeric():
    assert qlang.make_simple_filter("id", ["1", "23"], isnumeric=True) == [
        "|", ["=", "id", 1], ["=", "id", 23]]


def test_make_filter_without_args_is_none():
    assert qlang.make_filter([], False) is None
    assert qlang.make_filter([], True) is None


def test_make_filter_names():
    assert qlang.make_filter(["web1", "web2"], False) == [
        "|", ["=", "name", "web1"], ["=", "name", "web2"]]


def test_make_filter_custom_namefield_and_glob():
    assert qlang.make_filter(["node*"], False, namefield="node") == [
        "|", ["=~", "node", r"^node[^.]*(\..*)?$"]]


def test_make_filter_single_filter_looking_arg_is_parsed():
    assert qlang.make_filter(['name == "web1"'], False) == ["==", "name", "web1"]
    assert qlang.make_filter(["not offline"], False) == ["!", ["?", "offline"]]


def test_make_filter_several_args_are_names_even_if_filter_looking():
    # only a single argument is auto-detected as an expression
    assert qlang.make_filter(["a=b", "c"], False) == [
        "|", ["=", "name", "a=b"], ["=", "name", "c"]]


def test_make_filter_forced_parses_joined_args():
    assert qlang.make_filter(["offline"], True) == ["?", "offline"]
    assert qlang.make_filter(["name", "==", '"x"', "and", "y"], True) == [
        "&", ["==", "name", "x"], ["?", "y"]]


def test_make_filter_forced_blank_is_none():
    assert qlang.make_filter(["  "], True) is None


def test_make_filter_forced_invalid_raises():
    with pytest.raises(errors.QueryFilterParseError, match="Error while parsing"):
        qlang.make_filter(["a", "and"], True)


def test_make_filter_single_arg_invalid_filter_raises():
    with pytest.raises(errors.QueryFilterParseError, match="Expected value"):
        qlang.make_filter(["name == x"], False)


def test_make_filter_numeric_ids():
    assert qlang.make_filter(["1", "17"], False, namefield="id", isnumeric=True) == [
        "|", ["=", "id", 1], ["=", "id", 17]]


@pytest.mark.parametrize("bad", ["abc", "1.5", "1_0", "", "1*", "\u0661"])
def test_make_filter_numeric_rejects_non_integers(bad):
    with pytest.raises(errors.QueryFilterParseError) as info:
        qlang.make_filter(["1", bad], False, namefield="id", isnumeric=True)
    message = str(info.value)
    assert message.startswith("Error while parsing query filter")
    assert f"'{bad}' is not a valid number for field 'id'" in message


def test_make_filter_numeric_filter_expression_still_parsed():
    assert qlang.make_filter(["id > 5"], False, namefield="id", isnumeric=True) == [
        ">", "id", 5]
