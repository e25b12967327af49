"""Fill the casefolded keys of existing organisations and users.

The folding is copied here (not imported from trm.common.text) so this migration
keeps doing what it did when the code changes. Of organisations whose names
differ only in case (possible before 0002), the oldest gets the key; the others
keep a NULL key and must be renamed before their next edit is accepted.
"""

import unicodedata

from django.db import migrations


def _fold(value):
    folded = unicodedata.normalize("NFKC", value).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def fill_keys(apps, schema_editor):
    Organisation = apps.get_model("accounts", "Organisation")
    User = apps.get_model("accounts", "User")
    taken = set()
    for org in Organisation.objects.order_by("created_at", "pk"):
        key = _fold(org.name)
        if key in taken or len(key) > 400:
            continue
        taken.add(key)
        Organisation.objects.filter(pk=org.pk).update(name_key=key)
    for user in User.objects.order_by("pk").iterator():
        parts = (user.username, user.first_name, user.last_name, user.email)
        key = _fold(" ".join(part for part in parts if part))
        User.objects.filter(pk=user.pk).update(search_key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_token_second_factor_and_keys"),
    ]

    operations = [
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
    ]
