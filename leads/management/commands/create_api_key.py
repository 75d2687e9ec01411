from django.core.management.base import BaseCommand, CommandError

from leads.models import ApiKey
from leads.services import api_key_create


class Command(BaseCommand):
    help = "Create an integration API key and print it (as the last line). It is shown only once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name for the integration, e.g. 'website-forms'")

    def handle(self, *args, name: str, **options):
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An API key named {name!r} exists already.")
        key, secret = api_key_create(name=name)
        self.stderr.write(f"Created API key {key.name!r} (prefix {key.prefix}). Store it now:")
        self.stdout.write(secret)
