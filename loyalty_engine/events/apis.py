"""The pull feed of events: GET /api/v1/events?after=<cursor>&types=...

Staff (admin session or `Authorization: Token <key>`) and shops (`Api-Key`) read it.
Every shop sees every member's events, as every shop can read every member through the
member API (one program per deployment)."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.events.selectors import event_list
from loyalty_engine.events.services import event_envelope
from loyalty_engine.events.types import EVENT_TYPES
from loyalty_engine.staff_auth import StaffTokenAuthentication
from members.auth import ShopKeyAuthentication, ShopPrincipal

MAX_LIMIT = 1000
# Each type and what its data carries, in the schema (the same text as the README's table).
TYPES_DOC = "\n".join(f"- `{name}`: {text}" for name, text in EVENT_TYPES.items())
MAX_CURSOR = 2**63 - 1


class IsShopOrStaff(permissions.BasePermission):
    def has_permission(self, request, view):
        user = request.user
        if isinstance(user, ShopPrincipal):
            return True
        return bool(user and getattr(user, "is_staff", False))


class EventEnvelopeSerializer(serializers.Serializer):
    """The envelope of every event, in the feed and in webhook bodies."""

    id = serializers.CharField(help_text="evt_<32 hex>: unique, the same on every delivery.")
    type = serializers.ChoiceField(choices=sorted(EVENT_TYPES))
    version = serializers.IntegerField(help_text="The envelope's version (1).")
    occurred_at = serializers.DateTimeField()
    member = serializers.DictField(
        allow_null=True, help_text="{external_id}: the pseudonym once the member is erased."
    )
    data = serializers.DictField(help_text="Per type: see the webhooks section.")


class EventListApi(APIView):
    authentication_classes = [
        ShopKeyAuthentication,
        StaffTokenAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsShopOrStaff]

    class InputSerializer(serializers.Serializer):
        after = serializers.IntegerField(
            required=False,
            default=0,
            min_value=0,
            max_value=MAX_CURSOR,
            help_text="The `next_cursor` of the previous page (0 or absent: the oldest).",
        )
        types = serializers.CharField(
            required=False,
            max_length=2000,
            help_text="Comma-separated event types (default: all).",
        )
        limit = serializers.IntegerField(
            required=False, default=100, min_value=1, max_value=MAX_LIMIT
        )

        def validate_types(self, value: str) -> list[str]:
            types = [part.strip() for part in value.split(",") if part.strip()]
            unknown = sorted(set(types) - set(EVENT_TYPES))
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown event types: {', '.join(unknown)}.", code="unknown_event_type"
                )
            return types

    class OutputSerializer(serializers.Serializer):
        events = EventEnvelopeSerializer(many=True)
        next_cursor = serializers.CharField(help_text="Pass as `after` for the next page.")
        has_more = serializers.BooleanField()

    @extend_schema(
        parameters=[InputSerializer],
        responses=OutputSerializer,
        summary="Events in order, a page after a cursor",
        description="Ordered by when they were written; an event appears a couple of "
        "seconds after its change committed. Keep `next_cursor` and poll with it: no event "
        "is skipped or repeated. Shops and staff see every member's events. Webhook "
        "deliveries carry the same envelope as their body.\n\nEvent types:\n\n" + TYPES_DOC,
        tags=["events"],
    )
    def get(self, request):
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        events = list(
            event_list(after=params["after"], types=params.get("types"), limit=params["limit"] + 1)
        )
        has_more = len(events) > params["limit"]
        events = events[: params["limit"]]
        cursor = events[-1].seq if events else params["after"]
        return Response(
            {
                "events": [event_envelope(event) for event in events],
                "next_cursor": str(cursor),
                "has_more": has_more,
            }
        )
