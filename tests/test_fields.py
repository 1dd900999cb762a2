"""Custom fields: declared per tenant, read only as declared, every problem reported at once."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardkit import hookimpl
from onboardkit.addresses import EmailAddress
from onboardkit.errors import ConfigurationError, Issue, ValidationError, message
from onboardkit.fields import (
    DEFAULT_MAX_LENGTH,
    FieldSchema,
    FieldSpec,
    FieldType,
    Normalization,
    normalize_text,
)
from onboardkit.testing import make_plugins

DOCS = Path(__file__).parent.parent / "docs" / "custom-fields.md"

# The registration form of seed 000: the customer system asks for a customer number and an
# employee number, with validation.
SEED_000 = """
[fields.customer_number]
type = "text"
required = true
label = { en = "Customer number", de = "Kundennummer" }
help = { en = "Seven digits, see your invoice.", de = "Sieben Ziffern, siehe Ihre Rechnung." }
pattern = "[0-9]{7}"
normalize = ["nfkc", "remove_whitespace"]
max_length = 7

[fields.employee_number]
type = "integer"
label = { en = "Employee number", de = "Personalnummer" }
min_value = 1000
max_value = 99999
"""

# Every field type once, for the tests that go through all of them.
ALL_TYPES = {
    "fields": {
        "company": {"type": "text", "label": "Company", "max_length": 40, "min_length": 2},
        "seats": {"type": "integer", "label": "Seats", "min_value": 1, "max_value": 500},
        "budget": {
            "type": "decimal",
            "label": "Budget",
            "max_digits": 8,
            "decimal_places": 2,
            "min_value": "0.5",
        },
        "contact": {"type": "email", "label": "Contact"},
        "start": {"type": "date", "label": "Start", "min_value": date(2020, 1, 1)},
        "newsletter": {"type": "boolean", "label": "Newsletter"},
        "plan": {
            "type": "choice",
            "label": {"en": "Plan", "de": "Tarif"},
            "choices": [
                "basic",
                {"value": "pro", "label": {"en": "Professional", "de": "Profi"}},
            ],
        },
        "topics": {
            "type": "multi-choice",
            "label": "Topics",
            "choices": ["pim", "dam", "api"],
            "max_items": 2,
        },
    }
}


def _schema(fields: dict) -> FieldSchema:
    return FieldSchema.from_mapping({"fields": fields})


def _spec(**options) -> FieldSpec:
    return _schema({"value": {"label": "Value", **options}})["value"]


def _issues(schema: FieldSchema, data, plugins=None) -> dict[str, tuple[str, dict]]:
    with pytest.raises(ValidationError) as caught:
        schema.validate(data, tenant="acme", plugins=plugins)
    return {issue.path: (issue.code, dict(issue.params)) for issue in caught.value.issues}


def _code(spec: FieldSpec, raw) -> str:
    with pytest.raises(ValidationError) as caught:
        spec.parse(raw)
    (issue,) = caught.value.issues
    assert issue.path == spec.path
    return issue.code


def _config_key(config: dict, *, key: str = "") -> str:
    with pytest.raises(ConfigurationError) as caught:
        FieldSchema.from_mapping(config, key=key)
    return caught.value.params["key"]


# -- plugins for the validator hook --------------------------------------------------------------

CHECK_DIGIT_WRONG = message(
    "test.customer_number.check_digit", "The check digit of this customer number is wrong."
)


def _luhn_valid(number: str) -> bool:
    total = 0
    for position, digit in enumerate(int(char) for char in reversed(number)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


class CustomerNumberCheckDigit:
    """Seed 000's customer system: the last digit of a customer number is a Luhn check digit."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object, dict]] = []

    @hookimpl
    def onboardkit_validate_field(self, tenant, field, value, values):
        self.calls.append((tenant, field.name, value, dict(values)))
        if field.name == "customer_number" and not _luhn_valid(value):
            return [Issue(field.path, CHECK_DIGIT_WRONG)]
        return None


class BrokenCheck:
    @hookimpl
    def onboardkit_validate_field(self, field):
        raise RuntimeError("the checksum service is down")


class ConfusedCheck:
    @hookimpl
    def onboardkit_validate_field(self, field):
        return ["not an issue"]


# -- configuration -------------------------------------------------------------------------------


def test_the_seed_example_loads_from_toml():
    schema = FieldSchema.from_toml(SEED_000)
    assert [spec.name for spec in schema.fields] == ["customer_number", "employee_number"]
    assert schema["customer_number"].pattern == re.compile("[0-9]{7}")
    assert schema["customer_number"].label.get("de") == "Kundennummer"
    assert schema["employee_number"].type is FieldType.INTEGER


def test_toml_and_a_python_mapping_give_the_same_schema():
    from_python = FieldSchema.from_mapping(
        {
            "fields": {
                "customer_number": {
                    "type": "text",
                    "required": True,
                    "label": {"en": "Customer number", "de": "Kundennummer"},
                    "help": {
                        "en": "Seven digits, see your invoice.",
                        "de": "Sieben Ziffern, siehe Ihre Rechnung.",
                    },
                    "pattern": "[0-9]{7}",
                    "normalize": ["nfkc", "remove_whitespace"],
                    "max_length": 7,
                },
                "employee_number": {
                    "type": "integer",
                    "label": {"en": "Employee number", "de": "Personalnummer"},
                    "min_value": 1000,
                    "max_value": 99999,
                },
            }
        }
    )
    assert from_python == FieldSchema.from_toml(SEED_000)


def test_a_toml_file_is_read_from_a_path(tmp_path):
    path = tmp_path / "fields.toml"
    path.write_text(SEED_000, encoding="utf-8")
    assert FieldSchema.from_toml(path) == FieldSchema.from_toml(SEED_000)


def test_a_missing_toml_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        FieldSchema.from_toml(tmp_path / "missing.toml")
    assert caught.value.params["key"].endswith("missing.toml")


def test_invalid_toml_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as caught:
        FieldSchema.from_toml("[fields.customer_number\ntype = ")
    assert caught.value.params["key"] == "fields"


def test_the_documented_toml_examples_load():
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    for block in blocks:
        assert FieldSchema.from_toml(block).fields


def test_a_text_field_is_bounded_even_when_it_declares_no_length():
    spec = _spec(type="text")
    assert spec.max_length == DEFAULT_MAX_LENGTH
    assert _code(spec, "x" * (DEFAULT_MAX_LENGTH + 1)) == "field.too_long"


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"type": "text", "max_length": 0}, "fields.customer_number.max_length"),
        ({"type": "text", "max_length": 10**6}, "fields.customer_number.max_length"),
        ({"type": "text", "max_length": "7"}, "fields.customer_number.max_length"),
        ({"type": "text", "max_lenght": 7}, "fields.customer_number.max_lenght"),
        ({"type": "text", "min_length": 9, "max_length": 7}, "fields.customer_number.min_length"),
        ({"type": "text", "pattern": "[0-9"}, "fields.customer_number.pattern"),
        ({"type": "text", "pattern": "[0-9](?i)x"}, "fields.customer_number.pattern"),
        ({"type": "text", "pattern": "[[a]"}, "fields.customer_number.pattern"),
        ({"type": "text", "normalize": ["upper", "lower"]}, "fields.customer_number.normalize"),
        ({"type": "text", "normalize": ["strip", "shout"]}, "fields.customer_number.normalize[1]"),
        ({"type": "text", "normalize": "strip"}, "fields.customer_number.normalize"),
        ({"type": "integer", "pattern": "[0-9]+"}, "fields.customer_number.pattern"),
        ({"type": "integer", "min_value": 10, "max_value": 1}, "fields.customer_number.min_value"),
        ({"type": "integer", "min_value": 1.5}, "fields.customer_number.min_value"),
        ({"type": "integer", "max_digits": 29}, "fields.customer_number.max_digits"),
        ({"type": "decimal", "max_value": "lots"}, "fields.customer_number.max_value"),
        ({"type": "decimal", "max_value": "nan"}, "fields.customer_number.max_value"),
        (
            {"type": "decimal", "max_digits": 4, "decimal_places": 5},
            "fields.customer_number.decimal_places",
        ),
        ({"type": "date", "min_value": "01.01.2020"}, "fields.customer_number.min_value"),
        ({"type": "choice"}, "fields.customer_number.choices"),
        ({"type": "choice", "choices": []}, "fields.customer_number.choices"),
        ({"type": "choice", "choices": ["a", "a"]}, "fields.customer_number.choices[1].value"),
        ({"type": "choice", "choices": ["a", " b"]}, "fields.customer_number.choices[1].value"),
        (
            {"type": "choice", "choices": [{"value": "a", "colour": "red"}]},
            "fields.customer_number.choices[0].colour",
        ),
        (
            {"type": "choice", "choices": [{"value": "a", "label": {"fr": "A"}}]},
            "fields.customer_number.choices[0].label.fr",
        ),
        (
            {"type": "multi-choice", "choices": ["a"], "max_items": 2},
            "fields.customer_number.max_items",
        ),
        ({"type": "password"}, "fields.customer_number.type"),
        ({"required": True}, "fields.customer_number.type"),
        ({"type": "text", "required": "yes"}, "fields.customer_number.required"),
        ({"type": "text", "label": ""}, "fields.customer_number.label"),
        ({"type": "text", "label": {"de": "Kundennummer"}}, "fields.customer_number.label.en"),
        ({"type": "text", "label": {"en": "No.", "fr": "No."}}, "fields.customer_number.label.fr"),
        ({"type": "text", "help": 7}, "fields.customer_number.help"),
    ],
)
def test_a_wrong_option_is_reported_with_its_exact_key(options, key):
    config = {"fields": {"customer_number": {"label": "Customer number", **options}}}
    assert _config_key(config) == key


def test_a_field_without_a_label_is_refused():
    assert _config_key({"fields": {"x": {"type": "text"}}}) == "fields.x.label"


@pytest.mark.parametrize("name", ["status", "is_staff", "is_superuser", "roles", "password"])
def test_a_field_cannot_take_a_name_reserved_for_the_account(name):
    assert _config_key({"fields": {name: {"type": "text", "label": "X"}}}) == f"fields.{name}"


@pytest.mark.parametrize("name", ["Customer", "customer-number", "1st", "_x", "x" * 64])
def test_a_field_name_must_be_a_plain_identifier(name):
    assert _config_key({"fields": {name: {"type": "text", "label": "X"}}}) == f"fields.{name}"


def test_keys_are_prefixed_when_the_schema_sits_in_a_larger_configuration():
    config = {"fields": {"x": {"type": "text", "label": "X", "max_length": -1}}}
    assert _config_key(config, key="tenants.acme") == "tenants.acme.fields.x.max_length"


def test_the_submission_bound_cannot_be_below_the_number_of_fields():
    config = {"max_submission_keys": 1, "fields": ALL_TYPES["fields"]}
    assert _config_key(config) == "max_submission_keys"


def test_other_keys_of_the_configuration_are_left_to_other_building_blocks():
    config = {"password_policy": {"min_length": 12}, **ALL_TYPES}
    assert len(FieldSchema.from_mapping(config).fields) == len(ALL_TYPES["fields"])


# -- validating a submission ---------------------------------------------------------------------

FORM_SUBMISSION = {
    "company": "  Muster GmbH ",
    "seats": "12",
    "budget": "1250.5",
    "contact": "Einkauf@Muster.de",
    "start": "2024-02-29",
    "newsletter": "on",
    "plan": "pro",
    "topics": ["dam", "pim"],
}
JSON_SUBMISSION = {
    "company": "Muster GmbH",
    "seats": 12,
    "budget": 1250.5,
    "contact": "Einkauf@muster.de",
    "start": "2024-02-29",
    "newsletter": True,
    "plan": "pro",
    "topics": ["pim", "dam"],
}
PARSED = {
    "company": "Muster GmbH",
    "seats": 12,
    "budget": Decimal("1250.50"),
    "contact": EmailAddress("Einkauf@muster.de", "Einkauf@muster.de", "einkauf@muster.de"),
    "start": date(2024, 2, 29),
    "newsletter": True,
    "plan": "pro",
    "topics": ("pim", "dam"),
}


@pytest.mark.parametrize("submission", [FORM_SUBMISSION, JSON_SUBMISSION], ids=["form", "json"])
def test_form_and_json_submissions_give_the_same_parsed_values(submission):
    assert FieldSchema.from_mapping(ALL_TYPES).validate(submission, tenant="acme") == PARSED


def test_the_seed_example_accepts_a_customer_number_typed_with_spaces_and_full_width_digits():
    schema = FieldSchema.from_toml(SEED_000)
    values = schema.validate(
        {
            "customer_number": " \uff11\uff12\uff13\uff14\uff15\uff16\uff16 ",
            "employee_number": "4711",
        },
        tenant="acme",
    )
    assert values == {"customer_number": "1234566", "employee_number": 4711}


@pytest.mark.parametrize(
    "key", ["status", "is_staff", "is_superuser", "roles", "groups", "tenant", "approved", "id"]
)
def test_undeclared_keys_are_never_taken_over(key):
    schema = FieldSchema.from_toml(SEED_000)
    values = schema.validate(
        {"customer_number": "1234566", key: "admin", "fields.is_staff": True}, tenant="acme"
    )
    assert key not in values
    assert set(values) == {"customer_number", "employee_number"}


def test_the_result_holds_every_declared_field_with_empty_values_for_optional_ones():
    schema = FieldSchema.from_mapping(ALL_TYPES)
    assert schema.validate({}, tenant="acme") == {
        "company": None,
        "seats": None,
        "budget": None,
        "contact": None,
        "start": None,
        "newsletter": False,
        "plan": None,
        "topics": (),
    }


def test_every_problem_of_every_field_is_reported_at_once():
    schema = FieldSchema.from_mapping(ALL_TYPES)
    issues = _issues(
        schema,
        {
            "company": "X",
            "seats": "twelve",
            "budget": "12,50",
            "contact": "einkauf@muster.de\r\nBcc: all@example.com",
            "start": "2019-12-31",
            "newsletter": "maybe",
            "plan": "enterprise",
            "topics": ["pim", "dam", "api"],
        },
    )
    assert issues == {
        "fields.company": ("field.too_short", {"min_length": 2}),
        "fields.seats": ("field.not_an_integer", {}),
        "fields.budget": ("field.not_a_number", {}),
        "fields.contact": ("email.control_characters", {}),
        "fields.start": ("field.too_early", {"min_value": "2020-01-01"}),
        "fields.newsletter": ("field.not_a_boolean", {}),
        "fields.plan": ("field.not_a_choice", {}),
        "fields.topics": ("field.too_many_choices", {"max_items": 2}),
    }


def test_a_missing_required_field_is_reported_as_required():
    schema = FieldSchema.from_toml(SEED_000)
    assert _issues(schema, {"customer_number": "   "}) == {
        "fields.customer_number": ("field.required", {})
    }


def test_a_submission_with_too_many_keys_is_refused_before_any_field_is_read():
    schema = FieldSchema.from_toml(SEED_000)
    flood = {f"key{number}": "x" for number in range(schema.max_submission_keys)}
    assert _issues(schema, {"customer_number": "1234566", **flood}) == {
        "fields": ("fields.too_many_keys", {"max_keys": 100})
    }


@pytest.mark.parametrize("data", [None, ["customer_number"], "customer_number=1234566"])
def test_a_submission_that_is_not_a_mapping_is_refused(data):
    assert _issues(FieldSchema.from_toml(SEED_000), data) == {"fields": ("fields.wrong_type", {})}


def test_issues_render_in_german():
    schema = FieldSchema.from_toml(SEED_000)
    with pytest.raises(ValidationError) as caught:
        schema.validate({"customer_number": "1234566", "employee_number": "100000"}, tenant="a")
    assert [issue.localized("de") for issue in caught.value.issues] == [
        "Bitte geben Sie eine Zahl von höchstens 99999 ein."
    ]


def test_validated_values_read_back_from_their_json_form():
    schema = FieldSchema.from_mapping(ALL_TYPES)
    stored = schema.to_json(PARSED)
    assert stored["budget"] == "1250.50"
    assert stored["contact"] == "Einkauf@muster.de"
    assert stored["topics"] == ["pim", "dam"]
    assert schema.validate(stored, tenant="acme") == PARSED


def test_empty_optional_fields_are_left_out_of_the_json_form():
    schema = FieldSchema.from_mapping(ALL_TYPES)
    assert schema.to_json(schema.validate({}, tenant="acme")) == {
        "newsletter": False,
        "topics": [],
    }


# -- the validator hook --------------------------------------------------------------------------


def test_a_plugin_check_is_reported_together_with_the_declared_rules_of_other_fields():
    check = CustomerNumberCheckDigit()
    schema = FieldSchema.from_toml(SEED_000)
    issues = _issues(
        schema,
        {"customer_number": "1234567", "employee_number": "100000"},
        plugins=make_plugins(check, builtins=False),
    )
    assert {path: code for path, (code, _params) in issues.items()} == {
        "fields.customer_number": "test.customer_number.check_digit",
        "fields.employee_number": "field.too_large",
    }


def test_a_value_that_passes_the_plugin_check_is_accepted():
    check = CustomerNumberCheckDigit()
    schema = FieldSchema.from_toml(SEED_000)
    values = schema.validate(
        {"customer_number": "123 4566", "employee_number": "4711"},
        tenant="acme",
        plugins=make_plugins(check, builtins=False),
    )
    assert values["customer_number"] == "1234566"


def test_plugins_see_the_tenant_the_parsed_value_and_every_other_value():
    check = CustomerNumberCheckDigit()
    FieldSchema.from_toml(SEED_000).validate(
        {"customer_number": "1234566", "employee_number": "4711"},
        tenant="acme",
        plugins=make_plugins(check, builtins=False),
    )
    assert check.calls == [
        (
            "acme",
            "customer_number",
            "1234566",
            {"customer_number": "1234566", "employee_number": 4711},
        ),
        ("acme", "employee_number", 4711, {"customer_number": "1234566", "employee_number": 4711}),
    ]


def test_plugins_are_asked_only_about_values_that_passed_the_declared_rules():
    check = CustomerNumberCheckDigit()
    with pytest.raises(ValidationError):
        FieldSchema.from_toml(SEED_000).validate(
            {"customer_number": "12345"},
            tenant="acme",
            plugins=make_plugins(check, builtins=False),
        )
    assert check.calls == []


def test_a_plugin_that_raises_fails_closed_with_a_generic_issue(caplog):
    schema = FieldSchema.from_toml(SEED_000)
    with caplog.at_level(logging.ERROR, logger="onboardkit.fields"):
        issues = _issues(
            schema,
            {"customer_number": "1234566"},
            plugins=make_plugins(BrokenCheck(), builtins=False),
        )
    assert issues == {"fields.customer_number": ("field.check_unavailable", {})}
    assert "customer_number" in caplog.text


def test_a_plugin_that_answers_with_something_other_than_issues_fails_closed():
    schema = FieldSchema.from_toml(SEED_000)
    issues = _issues(
        schema,
        {"customer_number": "1234566"},
        plugins=make_plugins(ConfusedCheck(), builtins=False),
    )
    assert issues == {"fields.customer_number": ("field.check_unavailable", {})}


# -- text ----------------------------------------------------------------------------------------


def test_a_pattern_must_match_the_whole_value():
    spec = _spec(type="text", pattern="[0-9]{7}")
    assert spec.parse("1234566") == "1234566"
    assert _code(spec, "12345667") == "field.pattern_mismatch"
    assert _code(spec, "x1234566") == "field.pattern_mismatch"


def test_the_pattern_is_checked_after_normalization():
    spec = _spec(type="text", pattern="[A-Z]{2}-[0-9]{4}", normalize=["strip", "upper"])
    assert spec.parse(" ab-1234 ") == "AB-1234"


def test_text_is_stripped_when_no_normalization_is_declared():
    assert _spec(type="text").parse("  Muster GmbH  ") == "Muster GmbH"


def test_an_empty_normalization_list_keeps_the_text_as_sent():
    assert _spec(type="text", normalize=[]).parse(" a ") == " a "


def test_white_space_can_be_removed_from_identifiers():
    assert (
        _spec(type="text", normalize=["remove_whitespace"]).parse(" 123 45\u00a066 ") == "1234566"
    )


def test_the_length_is_checked_after_normalization():
    spec = _spec(type="text", max_length=3, normalize=["collapse_whitespace"])
    assert spec.parse("  a   b ") == "a b"


def test_a_megabyte_of_text_is_refused_as_too_long():
    assert _code(_spec(type="text"), "x" * 1_000_000) == "field.too_long"


@pytest.mark.parametrize("text", ["line\nbreak", "nul\x00", "bell\x07", "lone \ud800 surrogate"])
def test_text_with_control_characters_is_refused(text):
    assert _code(_spec(type="text"), text) == "field.control_characters"


def test_text_does_not_accept_a_number():
    assert _code(_spec(type="text"), 1234566) == "field.wrong_type"


def test_a_single_value_in_a_list_is_taken_as_the_value():
    assert _spec(type="text").parse(["Muster GmbH"]) == "Muster GmbH"


def test_several_values_for_a_single_value_field_are_refused():
    assert _code(_spec(type="text"), ["a", "b"]) == "field.wrong_type"


# -- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("4711", 4711), (" -12 ", -12), ("007", 7), (12.0, 12)])
def test_integers_are_read_from_text_and_numbers(raw, value):
    assert _spec(type="integer").parse(raw) == value


@pytest.mark.parametrize("raw", ["1_000", "1e3", "12.5", "\u0661\u0662", "0x1f", "1 000", 12.5])
def test_anything_but_plain_decimal_digits_is_not_an_integer(raw):
    assert _code(_spec(type="integer"), raw) == "field.not_an_integer"


@pytest.mark.parametrize("raw", [True, {"value": 1}, b"12"])
def test_an_integer_field_refuses_other_kinds_of_value(raw):
    assert _code(_spec(type="integer"), raw) == "field.wrong_type"


def test_integers_are_bounded_in_digits_even_without_declared_bounds():
    spec = _spec(type="integer")
    assert spec.parse(10**18 - 1) == 10**18 - 1
    assert _code(spec, 10**18) == "field.too_many_digits"
    assert _code(spec, "9" * 5000) == "field.too_many_digits"
    assert _code(spec, 1e300) == "field.too_many_digits"


def test_integers_respect_their_range():
    spec = _schema({"employee_number": {"type": "integer", "label": "E", "min_value": 1000}})[
        "employee_number"
    ]
    assert _code(spec, "999") == "field.too_small"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("12.5", "12.5"), ("12.50", "12.5"), (".5", "0.5"), ("-0", "0"), (0.1, "0.1"), (100, "100")],
)
def test_decimals_are_read_exactly_and_kept_in_one_form(raw, value):
    assert str(_spec(type="decimal").parse(raw)) == value


def test_decimals_with_declared_places_are_kept_with_that_many_places():
    assert str(_spec(type="decimal", decimal_places=2).parse("3")) == "3.00"


@pytest.mark.parametrize("raw", ["12,50", "1e5", "NaN", "Infinity", "1.2.3", float("nan")])
def test_anything_but_a_plain_decimal_number_is_not_a_number(raw):
    assert _code(_spec(type="decimal"), raw) == "field.not_a_number"


def test_decimals_are_bounded_in_digits_and_places():
    spec = _spec(type="decimal", max_digits=5, decimal_places=2)
    assert spec.parse("999.99") == Decimal("999.99")
    assert _code(spec, "1000") == "field.too_many_digits"
    assert _code(spec, "1.234") == "field.too_many_decimal_places"
    assert _code(spec, Decimal("1E+999999")) == "field.too_many_digits"


# -- dates, booleans, choices --------------------------------------------------------------------


def test_dates_are_read_in_iso_8601_form():
    assert _spec(type="date").parse(" 2024-02-29 ") == date(2024, 2, 29)


@pytest.mark.parametrize("raw", ["2023-02-29", "20240101", "29.02.2024", "2024-2-9", "0000-01-01"])
def test_anything_but_a_real_iso_date_is_not_a_date(raw):
    assert _code(_spec(type="date"), raw) == "field.not_a_date"


def test_a_date_field_refuses_a_date_and_time():
    assert _code(_spec(type="date"), datetime(2024, 1, 1, 12, 0)) == "field.wrong_type"


def test_dates_respect_their_range():
    spec = _spec(type="date", max_value="2024-12-31")
    assert _code(spec, "2025-01-01") == "field.too_late"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("on", True),
        ("true", True),
        ("1", True),
        ("yes", True),
        ("TRUE", True),
        (True, True),
        (1, True),
        ("off", False),
        ("false", False),
        ("0", False),
        ("no", False),
        ("", False),
        (None, False),
        (False, False),
        (0, False),
    ],
)
def test_booleans_read_form_words_and_json_values(raw, value):
    assert _spec(type="boolean").parse(raw) is value


def test_a_required_boolean_must_be_true():
    assert _code(_spec(type="boolean", required=True), "off") == "field.required"


def test_a_choice_must_be_one_of_the_declared_values():
    spec = _spec(type="choice", choices=["basic", "pro"])
    assert spec.parse(" pro ") == "pro"
    assert _code(spec, "Pro") == "field.not_a_choice"


def test_multiple_choices_come_back_in_declared_order():
    spec = _spec(type="multi-choice", choices=["pim", "dam", "api"])
    assert spec.parse(["api", "pim"]) == ("pim", "api")
    assert spec.parse("dam") == ("dam",)


def test_a_repeated_choice_is_refused():
    assert _code(_spec(type="multi-choice", choices=["a", "b"]), ["a", "a"]) == (
        "field.duplicate_choice"
    )


def test_a_flood_of_choices_is_refused_before_any_is_looked_at():
    spec = _spec(type="multi-choice", choices=["a", "b"])
    assert _code(spec, [["not", "text"]] * 100_000) == "field.too_many_choices"


def test_a_required_multi_choice_needs_one_choice():
    assert _code(_spec(type="multi-choice", choices=["a"], required=True), []) == "field.required"


def test_an_email_field_reports_address_problems_at_its_own_path():
    assert _code(_spec(type="email"), "not an address") == "email.invalid"
    assert _spec(type="email").parse("A@Example.com").normalized == "A@example.com"


# -- JSON Schema ---------------------------------------------------------------------------------


def _json_validator(schema: FieldSchema) -> jsonschema.Draft202012Validator:
    exported = schema.json_schema()
    jsonschema.Draft202012Validator.check_schema(exported)
    return jsonschema.Draft202012Validator(
        exported, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _accepted(schema: FieldSchema, data) -> bool:
    try:
        schema.validate(data, tenant="acme")
    except ValidationError:
        return False
    return True


GOOD = [
    JSON_SUBMISSION,
    {"company": "Muster GmbH", "budget": "0.50", "topics": []},
    {"seats": 500, "plan": "basic", "newsletter": False},
    {"start": "2020-01-01", "contact": "a@example.com"},
]
BAD = [
    {"company": "X"},
    {"company": "x" * 41},
    {"seats": 501},
    {"seats": 0},
    {"seats": "12"},
    {"budget": 0.25},
    {"budget": "12,5"},
    {"contact": "not an address"},
    {"start": "2024-02-30"},
    {"newsletter": "maybe"},
    {"plan": "enterprise"},
    {"topics": ["pim", "dam", "api"]},
    {"topics": ["pim", "pim"]},
    {"topics": ["nope"]},
    {f"key{number}": 1 for number in range(101)},
]


@pytest.mark.parametrize("data", GOOD)
def test_the_json_schema_accepts_what_the_schema_accepts(data):
    schema = FieldSchema.from_mapping(ALL_TYPES)
    assert _accepted(schema, data)
    assert _json_validator(schema).is_valid(data)


@pytest.mark.parametrize("data", BAD)
def test_the_json_schema_refuses_what_the_schema_refuses(data):
    schema = FieldSchema.from_mapping(ALL_TYPES)
    if data == {"seats": "12"}:
        # Form-style text is for forms; API clients send numbers.
        assert _accepted(schema, data)
    else:
        assert not _accepted(schema, data)
    assert not _json_validator(schema).is_valid(data)


def test_the_seed_example_json_schema_agrees_with_the_schema():
    schema = FieldSchema.from_toml(SEED_000)
    validator = _json_validator(schema)
    for data, good in [
        ({"customer_number": "1234566", "employee_number": 4711}, True),
        ({"customer_number": "123456"}, False),
        ({"employee_number": 4711}, False),
        ({"customer_number": "1234566", "employee_number": 999}, False),
    ]:
        assert _accepted(schema, data) is good
        assert validator.is_valid(data) is good


def test_the_json_schema_is_titled_in_the_requested_language():
    exported = FieldSchema.from_mapping(ALL_TYPES).json_schema(locale="de")
    assert exported["properties"]["plan"]["title"] == "Tarif"
    assert exported["properties"]["plan"]["oneOf"][1] == {"const": "pro", "title": "Profi"}
    assert exported["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_json_schema_lists_required_fields():
    exported = FieldSchema.from_toml(SEED_000).json_schema()
    assert exported["required"] == ["customer_number"]
    assert exported["properties"]["customer_number"]["pattern"] == "^(?:[0-9]{7})$"


# -- properties ----------------------------------------------------------------------------------

ANY_INPUT = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(),
        st.text(),
        st.binary(max_size=20),
        st.dates(),
        st.datetimes(),
        st.from_regex(r"\s*[+-]?[0-9]{0,30}(\.[0-9]{0,30})?\s*", fullmatch=True),
        st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
        st.sampled_from(["on", "off", "true", "pim", "dam", "api", "a@example.com"]),
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=8,
)

SPECS = {
    "text": _spec(
        type="text",
        max_length=12,
        min_length=2,
        pattern="[A-Z0-9 ]+",
        normalize=["nfkc", "collapse_whitespace", "upper"],
    ),
    "integer": _spec(type="integer", min_value=-50, max_value=10**6, max_digits=7),
    "decimal": _spec(type="decimal", max_digits=6, decimal_places=2, min_value="-100"),
    "email": _spec(type="email"),
    "date": _spec(type="date", min_value="1900-01-01", max_value="2099-12-31"),
    "boolean": _spec(type="boolean"),
    "choice": _spec(type="choice", choices=["pim", "dam", "api"]),
    "multi-choice": _spec(type="multi-choice", choices=["pim", "dam", "api"], max_items=2),
}


REFUSED = object()


def _parsed(spec: FieldSpec, raw):
    """The parsed value, or REFUSED after checking the error names the field alone."""
    try:
        return spec.parse(raw)
    except ValidationError as error:
        paths = [issue.path for issue in error.issues]
    assert paths == [spec.path]
    return REFUSED


def _assert_within_bounds(spec: FieldSpec, value) -> None:
    if value is None or value is REFUSED:
        return
    if spec.type is FieldType.TEXT:
        assert 2 <= len(value) <= 12
        assert re.fullmatch("[A-Z0-9 ]+", value)
    elif spec.type is FieldType.INTEGER:
        assert type(value) is int
        assert -50 <= value <= 10**6
    elif spec.type is FieldType.DECIMAL:
        assert value.is_finite()
        assert Decimal(-100) <= value < Decimal(10**4)
        assert value.as_tuple().exponent == -2
    elif spec.type is FieldType.EMAIL:
        assert isinstance(value, EmailAddress)
        assert len(value.normalized.encode()) <= 254
    elif spec.type is FieldType.DATE:
        assert type(value) is date
        assert date(1900, 1, 1) <= value <= date(2099, 12, 31)
    elif spec.type is FieldType.BOOLEAN:
        assert type(value) is bool
    elif spec.type is FieldType.CHOICE:
        assert value in ("pim", "dam", "api")
    else:
        assert isinstance(value, tuple)
        assert len(value) <= 2
        assert set(value) <= {"pim", "dam", "api"}


@pytest.mark.parametrize("kind", sorted(SPECS))
@given(raw=ANY_INPUT)
def test_any_input_parses_within_bounds_or_raises_a_validation_error(kind, raw):
    _assert_within_bounds(SPECS[kind], _parsed(SPECS[kind], raw))


@pytest.mark.parametrize("kind", sorted(SPECS))
@given(raw=ANY_INPUT)
def test_a_parsed_value_reads_back_unchanged_from_its_json_form(kind, raw):
    spec = SPECS[kind]
    value = _parsed(spec, raw)
    if value is not REFUSED:
        assert spec.parse(spec.to_json(value)) == value


@given(
    text=st.text(),
    steps=st.sets(st.sampled_from(list(Normalization))).filter(
        lambda steps: not {Normalization.UPPER, Normalization.LOWER} <= steps
    ),
)
def test_text_normalization_is_idempotent(text, steps):
    once = normalize_text(text, steps)
    assert normalize_text(once, steps) == once


@given(text=st.text(max_size=40))
def test_parsing_parsed_text_again_changes_nothing(text):
    spec = _spec(type="text", normalize=["nfkc", "collapse_whitespace", "lower"])
    value = _parsed(spec, text)
    if isinstance(value, str):
        assert spec.parse(value) == value


@given(
    data=st.dictionaries(
        st.sampled_from(["status", "is_staff", "roles", "company", "seats", "x", "fields"]),
        ANY_INPUT,
    )
)
def test_a_submission_gives_declared_fields_only_or_a_validation_error(data):
    schema = FieldSchema.from_mapping(ALL_TYPES)
    try:
        paths = set(schema.validate(data, tenant="acme"))
    except ValidationError as error:
        paths = {issue.path.split(".")[-1] for issue in error.issues}
    assert paths <= {*ALL_TYPES["fields"], "fields"}
