from django.core.management.base import BaseCommand, CommandError

from members.services import shop_api_key_create


class Command(BaseCommand):
    help = "Create a shop if it does not exist and print a new API key for it (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("shop_name", help='The shop\'s name, e.g. "Corner Café".')
        parser.add_argument("--key-name", default="default", help="A label for this key.")

    def handle(self, *args, shop_name: str, key_name: str, **options):
        shop_name = shop_name.strip()
        if not shop_name or len(shop_name) > 200:
            raise CommandError("The shop name must be 1 to 200 characters.")
        shop, key = shop_api_key_create(shop_name=shop_name, key_name=key_name)
        self.stdout.write(f"API key for shop '{shop.name}' (store it now; it is not shown again):")
        self.stdout.write(key)
