"""The query filter language: text such as ``name =~ /^web/ and not offline``
becomes the JSON list form that luxi and RAPI carry, plus the rules deciding
how ``list`` command arguments turn into a filter (cli.md 1.1 and 1.2)."""

import re
import string

import pyparsing as pp

from ganeti import errors

# Operators of the JSON list form
OP_OR = "|"
OP_AND = "&"
OP_NOT = "!"
OP_TRUE = "?"
OP_EQUAL = "=="
OP_EQUAL_LEGACY = "="
OP_NOT_EQUAL = "!="
OP_LT = "<"
OP_LE = "<="
OP_GT = ">"
OP_GE = ">="
OP_REGEXP = "=~"
OP_CONTAINS = "=[]"

# Comparison operators of the text language mapped to the JSON ones
_COMPARISONS = {
    "==": OP_EQUAL,
    "=": OP_EQUAL,
    "!=": OP_NOT_EQUAL,
    "<": OP_LT,
    "<=": OP_LE,
    ">": OP_GT,
    ">=": OP_GE,
}

# Regex flags the language knows, as inline-flag letters for Python's re
_REGEX_FLAGS = frozenset("is")

# Characters that make a lone list argument a filter expression (cli.md 1.1)
_FILTER_CHARS = re.compile(r"""[!"'()/<>=\\~\s]""")
_GLOB_CHARS = re.compile(r"[*?]")
_INTEGER = re.compile(r"[+-]?[0-9]+")

_ERROR_PREFIX = "Error while parsing query filter"

_KEYWORDS = ("and", "or", "not", "in")
_FIELD_CHARS = "A-Za-z0-9_/."


def glob_to_regex(pattern: str) -> str:
    """Convert a DNS-style glob into an anchored regular expression.

    ``*`` stands for any run of non-dot characters and ``?`` for one; the
    trailing optional group lets a short name match its fully qualified form.
    """
    parts = []
    for char in pattern:
        if char == "*":
            parts.append("[^.]*")
        elif char == "?":
            parts.append("[^.]")
        else:
            parts.append(re.escape(char))
    return "^" + "".join(parts) + r"(\..*)?$"


# --- grammar ---------------------------------------------------------------------
def _keyword(word: str) -> pp.Keyword:
    # Field names may contain "/" and ".", so those count as identifier
    # characters too: "not.x" is a field, not "not" applied to ".x".
    return pp.Keyword(word, ident_chars=string.ascii_letters + string.digits + "_/.")


def _make_regex(text: str, loc: int, toks: pp.ParseResults) -> list:
    """Turn a delimited regex token into its final pattern, checking it."""
    body, flags = toks[0], toks[1]
    unknown = sorted(set(flags) - _REGEX_FLAGS)
    if unknown:
        raise pp.ParseFatalException(
            text, loc, f"Unknown regular expression flag(s) '{''.join(unknown)}'")
    # pp.Regex keeps escapes verbatim; an escaped "/" or "#" means the plain
    # character to Python's re, so the backslash is just dropped, whereas "\^"
    # and "\|" stay escaped since the bare characters are regex operators.
    if body[0] in "/#":
        delim = body[0]
        body = re.sub(r"\\(.)", lambda m: m.group(1) if m.group(1) == delim
                      else m.group(0), body[1:-1], flags=re.DOTALL)
    else:
        body = body[1:-1]
    if flags:
        body = f"(?{''.join(sorted(set(flags)))}){body}"
    try:
        re.compile(body)
    except re.error as err:
        raise pp.ParseFatalException(
            text, loc, f"Invalid regular expression '{body}': {err}") from None
    return [body]


def _regex_token() -> pp.ParserElement:
    bodies = []
    for delim in "/#^|":
        esc = re.escape(delim)
        bodies.append(rf"{esc}(?:[^\\{esc}]|\\.)*{esc}")
    # The body keeps its delimiters so the action knows which one was used;
    # flags must follow the closing delimiter without whitespace.
    body = pp.Regex(r"m?(?P<body>" + "|".join(bodies) + ")", flags=re.DOTALL)
    body.add_parse_action(lambda toks: [toks["body"]])
    body.set_name("regular expression (/re/, m/re/, #re#, ^re^ or |re|)")
    flags = pp.Regex(r"\w*").leave_whitespace()
    regex = (body + flags).set_name("regular expression")
    regex.add_parse_action(_make_regex)
    return regex


def _build_grammar() -> pp.ParserElement:
    kw_and = _keyword("and").suppress()
    kw_or = _keyword("or").suppress()
    kw_not = _keyword("not")
    kw_in = _keyword("in")
    lpar = pp.Suppress("(")
    rpar = pp.Suppress(")")

    # A keyword is no field name, but a longer name starting with one is.
    keywords = "|".join(_KEYWORDS)
    field = pp.Regex(rf"(?!(?:{keywords})(?![{_FIELD_CHARS}]))[A-Za-z][{_FIELD_CHARS}]*")
    field.set_name("field name")

    integer = pp.Regex(_INTEGER.pattern).set_name("integer")
    integer.add_parse_action(lambda toks: [int(toks[0])])
    quoted = (pp.QuotedString('"', esc_char="\\")
              | pp.QuotedString("'", esc_char="\\")).set_name("quoted string")
    value = (integer | quoted).set_name("value (integer or quoted string)")

    # Longer operators first so "==" is not read as "=" followed by "=".
    cmp_op = pp.one_of("== != <= >= = < >").set_name("comparison operator")
    regex_op = pp.one_of("=~ !~")
    glob_op = pp.one_of("=* !*")

    def comparison(toks):
        return [[_COMPARISONS[toks[1]], toks[0], toks[2]]]

    def regex_match(toks):
        node = [OP_REGEXP, toks[0], toks[2]]
        return [node if toks[1] == "=~" else [OP_NOT, node]]

    def glob_match(toks):
        node = [OP_REGEXP, toks[0], glob_to_regex(toks[2])]
        return [node if toks[1] == "=*" else [OP_NOT, node]]

    def membership(toks):
        node = [OP_CONTAINS, toks[-1], toks[0]]
        return [[OP_NOT, node] if toks[1] == "not" else node]

    # "-" stops backtracking once an operator was seen, so errors point at the
    # missing operand instead of at the operator.
    cond_regex = (field + regex_op - _regex_token()).add_parse_action(regex_match)
    cond_glob = (field + glob_op - quoted).add_parse_action(glob_match)
    cond_cmp = (field + cmp_op - value).add_parse_action(comparison)
    cond_in = (value + pp.Optional(kw_not) + kw_in - field)
    cond_in.add_parse_action(membership)
    cond_bool = field.copy().add_parse_action(lambda toks: [[OP_TRUE, toks[0]]])
    condition = (cond_regex | cond_glob | cond_cmp | cond_in | cond_bool)
    condition.set_name("condition")

    expr = pp.Forward().set_name("filter expression")
    atom = condition | (lpar - expr + rpar)
    negated = pp.Forward().set_name("condition")
    inversion = (kw_not.suppress() - negated).add_parse_action(
        lambda toks: [[OP_NOT, toks[0]]])
    negated <<= (inversion | atom).set_name("condition")

    def chain(op):
        def action(toks):
            return [toks[0]] if len(toks) == 1 else [[op] + toks.as_list()]
        return action

    conj = (negated + pp.ZeroOrMore(kw_and - negated)).add_parse_action(chain(OP_AND))
    disj = (conj + pp.ZeroOrMore(kw_or - conj)).add_parse_action(chain(OP_OR))
    expr <<= disj
    return expr


_GRAMMAR = _build_grammar()


def _parse_error(err: pp.ParseBaseException) -> errors.QueryFilterParseError:
    pointer = " " * (err.col - 1) + "^"
    return errors.QueryFilterParseError(
        f"{_ERROR_PREFIX}: {err}\n  {err.line}\n  {pointer}")


# --- public API ------------------------------------------------------------------
def parse_filter(text: str) -> list | None:
    """Parse a textual filter into its JSON list form; blank text gives None.

    Raises QueryFilterParseError with the position and expectation on bad input.
    """
    if not text or not text.strip():
        return None
    try:
        result = _GRAMMAR.parse_string(text, parse_all=True)
    except pp.ParseBaseException as err:
        raise _parse_error(err) from None
    except RecursionError:
        raise errors.QueryFilterParseError(
            "Error while parsing query filter: the expression is nested too deeply"
        ) from None
    return result[0]


def is_filter_text(text: str) -> bool:
    """Whether a lone list argument must be read as a filter expression."""
    return bool(_FILTER_CHARS.search(text))


def _simple_part(namefield: str, value: str, isnumeric: bool) -> list:
    if isnumeric:
        # int() alone would also take " 7", "1_0" or non-ASCII digits
        if not _INTEGER.fullmatch(value):
            raise errors.QueryFilterParseError(
                f"{_ERROR_PREFIX}: '{value}' is not a valid number for field"
                f" '{namefield}'")
        return [OP_EQUAL_LEGACY, namefield, int(value)]
    if _GLOB_CHARS.search(value):
        return [OP_REGEXP, namefield, glob_to_regex(value)]
    return [OP_EQUAL_LEGACY, namefield, value]


def make_simple_filter(namefield: str, values: list[str],
                       isnumeric: bool = False) -> list | None:
    """OR together one name condition per value; globs become regexes."""
    if not values:
        return None
    return [OP_OR] + [_simple_part(namefield, value, isnumeric) for value in values]


def make_filter(args: list[str], force_filter: bool, namefield: str = "name",
                isnumeric: bool = False) -> list | None:
    """Build the filter for a ``list`` command from its arguments (cli.md 1.1).

    With ``force_filter`` (``-F``) or one argument that looks like an
    expression the arguments are parsed as a filter; otherwise they are names.
    """
    if not args:
        return None
    if force_filter or (len(args) == 1 and is_filter_text(args[0])):
        return parse_filter(" ".join(args))
    return make_simple_filter(namefield, args, isnumeric=isnumeric)
