"""The pure part of imports: reading, mapping and coercion, without a database."""

import pytest

from imports import parsing


def test_bom_is_stripped_and_semicolons_are_detected():
    raw = "\ufeffE-mail;First name;Employees\r\nana@acme.io;Ana;1.200\r\n".encode()
    text = parsing.decode(raw)
    delimiter = parsing.detect_delimiter(text)
    assert delimiter == ";"
    assert parsing.read_headers(text, delimiter) == ["E-mail", "First name", "Employees"]
    (row,) = parsing.read_rows(text, delimiter)
    assert (row.line, row.cells) == (2, ["ana@acme.io", "Ana", "1.200"])


def test_tab_delimited_file_is_detected_and_a_single_column_falls_back_to_comma():
    assert parsing.detect_delimiter("email\tname\na@b.io\tA\nc@d.io\tC\n") == "\t"
    assert parsing.detect_delimiter("email\na@b.io\n") == ","


def test_undecodable_file_is_a_clear_error_naming_the_line():
    raw = b"email,name\nana@acme.io,Ana\njo@acme.io,J" + b"\xe9r\xf4me\n"
    with pytest.raises(parsing.CsvError, match=r"not UTF-8 text .* line 3.*CSV UTF-8"):
        parsing.decode(raw)


def test_line_numbers_count_physical_lines_and_skip_blank_ones():
    text = 'email,notes\na@x.io,"two\nlines"\n\n,\nb@x.io,ok\n'
    rows = list(parsing.read_rows(text, ","))
    assert [(r.line, r.cells[0]) for r in rows] == [(2, "a@x.io"), (6, "b@x.io")]


def test_duplicate_headers_are_refused_and_blank_ones_get_a_name():
    with pytest.raises(parsing.CsvError, match="Column 1 and column 3 are both called “email”"):
        parsing.read_headers("email,name,email\n", ",")
    assert parsing.read_headers("email,,name\n", ",") == ["email", "column_2", "name"]


def test_auto_mapping_matches_common_headers_and_synonyms():
    headers = [
        "E-mail",
        "First Name",
        "last_name",
        "Title",
        "Company",
        "Website",
        "No. of Employees",
        "UTM Source",
        "Opt-in",
        "Lead Score",
    ]
    assert parsing.auto_map("leads", headers) == {
        "E-mail": "email",
        "First Name": "first_name",
        "last_name": "last_name",
        "Title": "job_title",
        "Company": "company.name",
        "Website": "company.domain",
        "No. of Employees": "company.employee_count",
        "UTM Source": "utm_source",
        "Opt-in": "consent.email_marketing",
        "Lead Score": parsing.IGNORE,
    }
    assert parsing.auto_map("interactions", ["Email Address", "Event Type", "Timestamp", "Event ID"]) == {
        "Email Address": "email",
        "Event Type": "type",
        "Timestamp": "occurred_at",
        "Event ID": "external_id",
    }
    # A field is taken once: the second e-mail-like column is not imported.
    assert parsing.auto_map("outcomes", ["email", "Mail"]) == {"email": "email", "Mail": parsing.IGNORE}


def test_mapping_problems_name_missing_and_doubled_fields():
    problems = parsing.mapping_problems(
        "interactions", ["Mail", "When", "x"], {"Mail": "email", "When": "email", "x": "colour"}
    )
    text = " ".join(problems)
    assert "“Mail” and “When” are all mapped to Lead e-mail" in text
    assert "“x” cannot be imported as “colour”" in text
    assert "Map a column to Interaction type" in text and "Occurred at" in text
    assert parsing.mapping_problems("leads", ["e"], {"e": "email"}) == []


def test_plan_builds_nested_items_and_coerces_spreadsheet_habits():
    headers = ["Email", "Employees", "Website", "Opt-in", "Lead Score", "Notes"]
    plan = parsing.Plan(
        kind="leads",
        headers=headers,
        columns={
            "Email": "email",
            "Employees": "company.employee_count",
            "Website": "company.domain",
            "Opt-in": "consent.email_marketing",
            "Lead Score": "attributes.lead_score",
            "Notes": parsing.IGNORE,
        },
    )
    item, errors = plan.build(["ana@acme.io", "1,200", "https://www.Acme.io/about", "Opted in", "87", "hi"])
    assert errors == []
    assert item == {
        "email": "ana@acme.io",
        "company": {"employee_count": "1200", "domain": "www.acme.io"},
        "consent": {"email_marketing": "true"},
        "attributes": {"lead_score": "87"},
    }
    # Empty cells are "not provided" (absent keys), and a short row is fine.
    assert plan.build(["bo@acme.io", ""]) == ({"email": "bo@acme.io"}, [])
    _, errors = plan.build(["cy@acme.io", "", "", "", "", "", "surprise"])
    assert errors[0]["message"] == "This row has 7 cells but the header names 6 columns."


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,200", "1200"), ("$ 12,000.50", "12000.50"), ("1.234,5", "1234.5"), ("12,5", "12.5"), ("n/a", "n/a")],
)
def test_numbers_lose_their_separators(text, expected):
    assert parsing.coerce_number(text) == expected


def test_choice_values_match_by_value_or_label_in_any_case_and_explicit_maps_win():
    plan = parsing.Plan(
        kind="interactions",
        headers=["type"],
        columns={"type": "type"},
        choices={"type": [("page_view", "Page view"), ("newsletter_signup", "Newsletter sign-up")]},
        values={"type": {"Webinar": "webinar_attendance"}},
    )
    assert plan.build(["Page View"])[0] == {"type": "page_view"}
    assert plan.build(["Newsletter Sign-up"])[0] == {"type": "newsletter_signup"}
    assert plan.build(["webinar"])[0] == {"type": "webinar_attendance"}
    assert plan.build(["Coffee"])[0] == {"type": "Coffee"}  # left for the serializer to reject


def test_serializer_errors_flatten_to_dotted_fields():
    errors = {"company": {"domain": ["Enter a domain."]}, "non_field_errors": ["Bad."], "email": ["No."]}
    assert parsing.flatten_errors(errors) == [
        ("company.domain", "Enter a domain."),
        ("", "Bad."),
        ("email", "No."),
    ]


def test_formula_looking_text_is_defused_but_numbers_are_not():
    assert parsing.spreadsheet_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert parsing.spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert parsing.spreadsheet_safe("+1 555") == "'+1 555"
    assert parsing.spreadsheet_safe(-5) == -5
    assert parsing.spreadsheet_safe("Acme") == "Acme"
