"""Reading CSV files and turning their rows into the items the API accepts. Pure: no Django.

The pipeline for one row is: cells -> `Plan.build` (mapping + light coercion) -> an item shaped
like an API request body -> the API's own serializer (in services.py). Coercion here only undoes
spreadsheet habits (thousands separators, "Yes", "https://www.acme.com/", "Page View"); every
rule that can reject a value stays in the serializers, so a CSV row and an API call are judged
alike.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("leads", "interactions", "outcomes")
IGNORE = "ignore"
SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
PREVIEW_ROWS = 5

# Where a kind keeps columns that are not fields: leads' `attributes`, interactions' `properties`.
CUSTOM_PREFIX = {"leads": "attributes", "interactions": "properties", "outcomes": None}

TARGETS: dict[str, list[tuple[str, str]]] = {
    "leads": [
        ("email", "E-mail (required)"),
        ("first_name", "First name"),
        ("last_name", "Last name"),
        ("job_title", "Job title"),
        ("phone", "Phone"),
        ("country", "Country (two-letter code)"),
        ("source", "Source (acquisition channel)"),
        ("utm_source", "UTM source"),
        ("utm_medium", "UTM medium"),
        ("utm_campaign", "UTM campaign"),
        ("company.name", "Company name"),
        ("company.domain", "Company domain or website"),
        ("company.industry", "Company industry"),
        ("company.employee_count", "Company employees"),
        ("company.annual_revenue", "Company annual revenue"),
        ("consent.email_marketing", "Consent to e-mail marketing (yes/no)"),
    ],
    "interactions": [
        ("email", "Lead e-mail (or lead id)"),
        ("lead_id", "Lead id (or e-mail)"),
        ("type", "Interaction type (required)"),
        ("occurred_at", "Occurred at (required)"),
        ("external_id", "External id (for de-duplication)"),
        ("source", "Source system"),
        ("properties.url", "Property: url"),
        ("properties.duration_seconds", "Property: duration_seconds"),
    ],
    "outcomes": [
        ("email", "Lead e-mail (or lead id)"),
        ("lead_id", "Lead id (or e-mail)"),
        ("result", "Result: won / lost / converted / not_converted (required)"),
        ("occurred_at", "Occurred at (required)"),
        ("amount", "Amount"),
        ("external_id", "External id (for de-duplication)"),
        ("source", "Source system"),
    ],
}

REQUIRED = {
    "leads": (("email",),),
    "interactions": (("email", "lead_id"), ("type",), ("occurred_at",)),
    "outcomes": (("email", "lead_id"), ("result",), ("occurred_at",)),
}

_EMAIL = ("email", "emailaddress", "mail", "workemail", "businessemail", "contactemail", "emailid")
_LEAD_ID = ("leadid", "leadqualid")
_WHEN = ("occurredat", "timestamp", "datetime", "date", "time", "when", "occurred", "eventdate", "eventtime")

SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "leads": {
        "email": _EMAIL,
        "first_name": ("firstname", "first", "givenname", "forename", "fname"),
        "last_name": ("lastname", "last", "surname", "familyname", "lname"),
        "job_title": ("jobtitle", "title", "position", "jobposition", "designation"),
        "phone": ("phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "workphone"),
        "country": ("country", "countrycode", "countryiso"),
        "source": ("source", "leadsource", "channel", "acquisitionchannel"),
        "utm_source": ("utmsource",),
        "utm_medium": ("utmmedium",),
        "utm_campaign": ("utmcampaign", "campaign"),
        "company.name": (
            "company",
            "companyname",
            "organization",
            "organisation",
            "account",
            "accountname",
            "employer",
        ),
        "company.domain": ("domain", "companydomain", "website", "companywebsite", "web", "url"),
        "company.industry": ("industry", "companyindustry", "sector", "vertical"),
        "company.employee_count": (
            "employees",
            "employeecount",
            "numberofemployees",
            "noofemployees",
            "companysize",
            "headcount",
            "companyemployees",
            "companyemployeecount",
        ),
        "company.annual_revenue": ("revenue", "annualrevenue", "companyrevenue", "companyannualrevenue"),
        "consent.email_marketing": (
            "consent",
            "emailconsent",
            "marketingconsent",
            "optin",
            "emailoptin",
            "emailmarketing",
            "consentemailmarketing",
            "emailmarketingconsent",
        ),
    },
    "interactions": {
        "email": _EMAIL,
        "lead_id": _LEAD_ID,
        "type": ("type", "interactiontype", "eventtype", "event", "activity", "activitytype", "action"),
        "occurred_at": _WHEN,
        "external_id": ("externalid", "eventid", "id", "activityid", "interactionid"),
        "source": ("source", "system", "sourcesystem", "origin"),
        "properties.url": ("url", "pageurl", "page", "link", "propertiesurl"),
        "properties.duration_seconds": (
            "duration",
            "durationseconds",
            "seconds",
            "timeonpage",
            "propertiesdurationseconds",
        ),
    },
    "outcomes": {
        "email": _EMAIL,
        "lead_id": _LEAD_ID,
        "result": ("result", "outcome", "status", "dealstatus"),
        "occurred_at": (*_WHEN, "closedate", "closedat", "closeddate", "wonat"),
        "amount": ("amount", "value", "dealvalue", "dealamount", "acv", "revenue", "price"),
        "external_id": ("externalid", "dealid", "opportunityid", "id", "crmid"),
        "source": ("source", "system", "sourcesystem", "origin"),
    },
}


class CsvError(ValueError):
    """The file as a whole cannot be read; the message is for the person who uploaded it."""


@dataclass(frozen=True)
class Row:
    line: int  # the physical line the record starts on, counting the header as line 1
    cells: list[str]


def normalize_header(header: str) -> str:
    """'E-mail', 'e_mail' and ' Email ' all become 'email'."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


def custom_key(header: str) -> str:
    """The attribute / property key a column gets when imported as custom data: snake_case."""
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")[:64] or "column"


# --- reading -------------------------------------------------------------------------------------


def decode(raw: bytes) -> str:
    """UTF-8, with or without the byte-order mark Excel writes. Anything else is a clear error."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvError(
            f"The file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line} cannot be read)."
            " In Excel choose “CSV UTF-8” when saving; in other tools pick UTF-8 as the encoding."
        ) from exc


def detect_delimiter(text: str) -> str:
    """csv.Sniffer on the first 64 KB, limited to , ; tab and |; a comma when it cannot tell."""
    sample = text[:SNIFF_BYTES]
    if len(text) > SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _reader(text: str, delimiter: str):
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)


def read_headers(text: str, delimiter: str) -> list[str]:
    reader = _reader(text, delimiter)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise CsvError(f"Line 1 cannot be read as CSV: {exc}.") from exc
    if not first or not any(cell.strip() for cell in first):
        raise CsvError("The first line must name the columns; it is empty.")
    headers = [cell.strip() or f"column_{i}" for i, cell in enumerate(first, start=1)]
    seen: dict[str, int] = {}
    for i, header in enumerate(headers, start=1):
        if header in seen:
            raise CsvError(
                f"Column {seen[header]} and column {i} are both called “{header}”; rename one of them."
            )
        seen[header] = i
    return headers


def read_rows(text: str, delimiter: str) -> Iterator[Row]:
    """The records after the header, with their line numbers; blank lines are skipped."""
    reader = _reader(text, delimiter)
    try:
        next(reader, None)
        previous = reader.line_num
        for cells in reader:
            line = previous + 1
            previous = reader.line_num
            if any(cell.strip() for cell in cells):
                yield Row(line, cells)
    except csv.Error as exc:
        raise CsvError(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from exc


# --- mapping -------------------------------------------------------------------------------------


def target_choices(kind: str, header: str) -> list[tuple[str, str]]:
    """What one column may be imported as: the kind's fields, custom data under its name, nothing."""
    choices = list(TARGETS[kind])
    prefix = CUSTOM_PREFIX[kind]
    if prefix:
        key = custom_key(header)
        value = f"{prefix}.{key}"
        if value not in dict(choices):
            noun = "attribute" if prefix == "attributes" else "property"
            choices.append((value, f"Custom {noun} “{key}”"))
    choices.append((IGNORE, "Don't import"))
    return choices


def auto_map(kind: str, headers: list[str]) -> dict[str, str]:
    """Pre-fill the mapping by header name; each field is taken by the first column that names it."""
    lookup = {}
    for target, names in SYNONYMS[kind].items():
        lookup[normalize_header(target)] = target
        for name in names:
            lookup.setdefault(name, target)
    mapping, used = {}, set()
    for header in headers:
        target = lookup.get(normalize_header(header))
        if target and target not in used:
            mapping[header] = target
            used.add(target)
        else:
            mapping[header] = IGNORE
    return mapping


def _is_valid_target(kind: str, target: str) -> bool:
    if target == IGNORE or target in dict(TARGETS[kind]):
        return True
    prefix = CUSTOM_PREFIX[kind]
    if prefix and target.startswith(prefix + "."):
        key = target[len(prefix) + 1 :]
        return 0 < len(key) <= 64 and "." not in key
    return False


def mapping_problems(kind: str, headers: list[str], columns: Mapping[str, str]) -> list[str]:
    """Why a mapping cannot be used, in words; empty when it can."""
    problems = []
    unknown_columns = sorted(set(columns) - set(headers))
    if unknown_columns:
        problems.append(f"The file has no column {', '.join(f'“{c}”' for c in unknown_columns)}.")
    labels = dict(TARGETS[kind])
    by_target: dict[str, list[str]] = {}
    for header in headers:
        target = columns.get(header, IGNORE)
        if not _is_valid_target(kind, target):
            problems.append(f"“{header}” cannot be imported as “{target}” for {kind}.")
        elif target != IGNORE:
            by_target.setdefault(target, []).append(header)
    for target, named in by_target.items():
        if len(named) > 1:
            problems.append(
                f"{' and '.join(f'“{h}”' for h in named)} are all mapped to {labels.get(target, target)};"
                " keep one and set the others to “Don't import”."
            )
    for group in REQUIRED[kind]:
        if not any(t in by_target for t in group):
            problems.append(f"Map a column to {' or '.join(labels[t].split(' (')[0] for t in group)}.")
    return problems


# --- coercion ------------------------------------------------------------------------------------

_NUMBER_JUNK = re.compile(r"[\s$€£¥_']")
_TRUE = {"opted in", "opt-in", "opt in", "subscribed", "x", "✓"}
_FALSE = {"opted out", "opt-out", "opt out", "unsubscribed"}


def coerce_number(text: str) -> str:
    """'1,200' -> '1200', '$ 12,000.50' -> '12000.50', '1.234,5' -> '1234.5', '12,5' -> '12.5'.

    One comma followed by exactly three digits is read as a thousands separator ("1,234"); a value
    that still is not a number is passed on unchanged for the serializer to reject by name.
    """
    t = _NUMBER_JUNK.sub("", text)
    if "," in t and "." in t:
        t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else t.replace(",", "")
    elif "," in t:
        parts = t.split(",")
        t = t.replace(",", "") if len(parts) > 2 or len(parts[1]) == 3 else t.replace(",", ".")
    return t


def coerce_domain(text: str) -> str:
    """A website column usually holds 'https://www.acme.com/about'; the field wants 'acme.com'."""
    t = text.strip().lower()
    t = re.sub(r"^[a-z][a-z0-9+.-]*://", "", t)
    t = re.split(r"[/?#]", t, maxsplit=1)[0]
    return t.split(":", 1)[0].rstrip(".")


def coerce_bool(text: str) -> str:
    t = text.strip().lower()
    if t in _TRUE:
        return "true"
    if t in _FALSE:
        return "false"
    return t


def coerce_seconds(text: str) -> Any:
    t = coerce_number(text)
    try:
        return int(t)
    except ValueError:
        try:
            return float(t)
        except ValueError:
            return text  # the serializer says "must be a non-negative number"


def choice_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def choice_map(choices: list[tuple[str, str]]) -> dict[str, str]:
    """'Page View', 'page-view' and 'PAGE_VIEW' -> 'page_view', from the values and their labels."""
    mapped = {}
    for value, label in choices:
        mapped[choice_key(value)] = value
        mapped.setdefault(choice_key(label), value)
    return mapped


COERCERS = {
    "company.employee_count": coerce_number,
    "company.annual_revenue": coerce_number,
    "company.domain": coerce_domain,
    "consent.email_marketing": coerce_bool,
    "amount": coerce_number,
    "properties.duration_seconds": coerce_seconds,
}


@dataclass
class Plan:
    """A mapping compiled for one file: which cell goes where, and how it is cleaned.

    `choices` maps a target (`type`, `result`) to the allowed values and labels; `values` holds
    explicit value maps (`{"type": {"Webinar": "webinar_attendance"}}`) that win over them.
    """

    kind: str
    headers: list[str]
    columns: Mapping[str, str]
    choices: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self):
        self._steps = []
        self._column_of: dict[str, tuple[int, str]] = {}
        value_maps = {t: choice_map(c) for t, c in self.choices.items()}
        for target, explicit in self.values.items():
            value_maps.setdefault(target, {}).update({choice_key(k): v for k, v in explicit.items()})
        for index, header in enumerate(self.headers):
            target = self.columns.get(header, IGNORE)
            if target == IGNORE:
                continue
            path = tuple(target.split(".", 1))
            coerce = COERCERS.get(target)
            if target in value_maps:
                coerce = _value_mapper(value_maps[target])
            self._steps.append((index, path, coerce))
            self._column_of[target] = (index, header)

    def build(self, cells: list[str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The API item for one row, and the errors only the file layout can cause."""
        item: dict[str, Any] = {}
        width = len(self.headers)
        for index, path, coerce in self._steps:
            if index >= width or index >= len(cells):
                continue  # a short row: Excel drops trailing empty cells
            raw = cells[index].strip()
            if raw == "":
                continue  # empty means "not provided", as an absent key in the API
            value = coerce(raw) if coerce else raw
            if len(path) == 1:
                item[path[0]] = value
            else:
                item.setdefault(path[0], {})[path[1]] = value
        extra = [c for c in cells[width:] if c.strip()]
        if extra:
            message = f"This row has {len(cells)} cells but the header names {width} columns."
            return item, [{"field": "", "column": "", "value": "", "message": message}]
        return item, []

    def describe(self, errors: list[tuple[str, str]], cells: list[str]) -> list[dict[str, str]]:
        """Serializer errors with the CSV column and the cell that caused them."""
        described = []
        for path, message in errors:
            target = path
            while target and target not in self._column_of and "." in target:
                target = target.rsplit(".", 1)[0]
            index, header = self._column_of.get(target, (None, ""))
            value = cells[index].strip() if index is not None and index < len(cells) else ""
            described.append({"field": path, "column": header, "value": value[:200], "message": message})
        return described


def _value_mapper(mapped: dict[str, str]):
    def coerce(text: str) -> str:
        return mapped.get(choice_key(text), text)

    return coerce


def flatten_errors(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    """{'company': {'domain': ['Enter a domain']}} -> [('company.domain', 'Enter a domain')]."""
    if isinstance(errors, Mapping):
        flat = []
        for key, value in errors.items():
            name = "" if key == "non_field_errors" else str(key)
            flat.extend(flatten_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return flat
    if isinstance(errors, list | tuple):
        return [pair for item in errors for pair in flatten_errors(item, prefix)]
    return [(prefix, str(errors))]


# --- writing -------------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Defuse CSV injection: text a spreadsheet would run as a formula gets a leading apostrophe.

    OWASP's rule: a cell starting with = + - @ (or tab / CR) is prefixed with '. Only text is
    touched; numbers we write ourselves (a negative engagement score) stay numbers. The price is
    that a phone number written "+44 ..." exports as "'+44 ...".
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
