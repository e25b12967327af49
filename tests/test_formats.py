from datetime import UTC, datetime

from django.utils import formats, translation


def test_bulgarian_and_romanian_dates_use_the_24_hour_day_month_year_form():
    moment = datetime(2026, 11, 29, 16, 28, tzinfo=UTC)
    for language in ("bg", "ro"):
        with translation.override(language):
            text = formats.date_format(moment, "SHORT_DATETIME_FORMAT")
        assert text == "29.11.2026 16:28", (language, text)
    with translation.override("en"):
        assert "2026" in formats.date_format(moment, "SHORT_DATETIME_FORMAT")
