import factory
from django.utils import timezone

from members.models import Member, Shop


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Shop {n}")


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    external_id = factory.Sequence(lambda n: f"cust-{n:05d}")
    email = factory.LazyAttribute(lambda m: f"{m.external_id}@example.com")
    name = factory.Faker("name")
    enrolled_at = factory.LazyFunction(timezone.now)
