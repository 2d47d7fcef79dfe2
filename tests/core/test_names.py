"""One rule for names and a strict version parser, shared by the registry and experiments."""

from __future__ import annotations

import pytest

from limelight.core.errors import InvalidInputError
from limelight.core.names import MAX_VERSION, check_name, parse_model_ref, parse_version


@pytest.mark.parametrize("text", ["1", "42", "007", str(MAX_VERSION)])
def test_parse_version_accepts_ascii_digits_from_one_to_int64(text: str) -> None:
    assert parse_version(text) == int(text)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("99999999999999999999", "from 1 to 9223372036854775807"),
        (str(MAX_VERSION + 1), "from 1 to 9223372036854775807"),
        ("9" * 5000, "is not a version"),
        ("0", "from 1 to"),
        ("-3", "digits 0-9 only"),
        ("+3", "digits 0-9 only"),
        (" 3", "digits 0-9 only"),
        ("3 ", "digits 0-9 only"),
        ("1_000", "digits 0-9 only"),
        ("\u0663", "digits 0-9 only"),  # ARABIC-INDIC DIGIT THREE: int() would take it
        ("", "digits 0-9 only"),
        ("3.0", "digits 0-9 only"),
        (True, "is not a version"),
        (99999999999999999999, "from 1 to"),
        (0, "from 1 to"),
        (2.0, "is not a version"),
    ],
)
def test_parse_version_refuses_everything_else_clearly(value: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_version(value)


def test_model_references_use_the_strict_parser_and_latest_means_newest() -> None:
    assert parse_model_ref("recs/3") == ("recs", None, 3)
    assert parse_model_ref("recs@latest") == ("recs", None, None) == parse_model_ref("recs")
    for bad in ("recs/99999999999999999999", "recs/1_0", "recs/ 1", "recs/\u0663"):
        with pytest.raises(InvalidInputError, match=r"is not a version"):
            parse_model_ref(bad)


@pytest.mark.parametrize("name", ["recs", "a", "ab-test.v2", "A_1", "9lives", "x" * 200])
def test_valid_names(name: str) -> None:
    assert check_name(name, "experiment") == name


@pytest.mark.parametrize(
    "name", ["", "../../x", "a/b", "<script>", "x" * 5000, "x" * 201, ".hidden", "a b", "é", None]
)
def test_invalid_names_say_what_is_wrong(name: object) -> None:
    with pytest.raises(InvalidInputError, match="is not an experiment name: start with a letter"):
        check_name(name, "experiment")
