from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.pagination import CursorPage
from members.segments import (
    FIELDS,
    LANGUAGE_CODES,
    MAX_CONDITIONS,
    OPS,
    ConditionError,
    conditions_validate,
)
from metrics.apis import StaffApi
from metrics.segments.selectors import (
    segment_get,
    segment_list,
    segment_member_list,
    segment_preview_count,
)
from metrics.segments.services import segment_copy, segment_create, segments_recompute


class SegmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    conditions = serializers.JSONField()
    is_builtin = serializers.BooleanField(help_text="A template: copy it to use it.")
    is_active = serializers.BooleanField()
    member_count = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True)


CONDITIONS_HELP = (
    'Conditions {"field", "op", "value"}, all of which must hold. Fields: '
    + ", ".join(FIELDS)
    + ". Ops: "
    + ", ".join(OPS)
    + ". shop (the id of the shop of the last purchase) and language (the language the "
    "member reads: their own, else the program's default) take eq, ne or in; language's "
    "values are the codes " + ", ".join(LANGUAGE_CODES) + "."
)


class ConditionSerializer(serializers.Serializer):
    field = serializers.CharField(max_length=64)
    op = serializers.CharField(max_length=8)
    value = serializers.JSONField()


class SegmentPagination(CursorPage):
    ordering = "name"


class SegmentListApi(StaffApi, ListAPIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(max_length=2000, required=False, default="")
        conditions = serializers.ListField(
            child=serializers.JSONField(),
            max_length=MAX_CONDITIONS,
            allow_empty=True,
            help_text=CONDITIONS_HELP,
        )

        def validate_conditions(self, value):
            try:
                return conditions_validate(value)
            except ConditionError as error:
                raise serializers.ValidationError(str(error), code="invalid_condition") from None

    serializer_class = SegmentOutputSerializer
    pagination_class = SegmentPagination

    def get_queryset(self):
        return segment_list()

    @extend_schema(summary="The segments (cursor pages)", tags=["segments"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer,
        responses={201: SegmentOutputSerializer},
        summary="Create a segment and compute its members",
        tags=["segments"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                segment = segment_create(**data.validated_data)
        except IntegrityError:
            raise serializers.ValidationError(
                {"name": ["A segment with this name exists."]}, code="unique"
            ) from None
        segments_recompute(segment_ids=[segment.pk])
        return Response(
            SegmentOutputSerializer(segment_get(segment_id=segment.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class SegmentPreviewApi(StaffApi, APIView):
    class InputSerializer(serializers.Serializer):
        conditions = serializers.ListField(
            child=serializers.JSONField(),
            max_length=MAX_CONDITIONS,
            allow_empty=True,
            help_text=CONDITIONS_HELP,
        )

        def validate_conditions(self, value):
            try:
                return conditions_validate(value)
            except ConditionError as error:
                raise serializers.ValidationError(str(error), code="invalid_condition") from None

    class OutputSerializer(serializers.Serializer):
        members = serializers.IntegerField(help_text="Members meeting the conditions now.")

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        summary="How many members conditions select now (writes nothing)",
        tags=["segments"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        count = segment_preview_count(conditions=data.validated_data["conditions"])
        return Response(self.OutputSerializer({"members": count}).data)


class SegmentRecomputeApi(StaffApi, APIView):
    @extend_schema(
        request=None,
        responses={200: SegmentOutputSerializer, 404: OpenApiResponse(description="not found")},
        summary="Recompute a segment's members now",
        tags=["segments"],
    )
    def post(self, request, segment_id: int):
        segment = segment_get(segment_id=segment_id)
        segments_recompute(segment_ids=[segment.pk])
        return Response(SegmentOutputSerializer(segment_get(segment_id=segment.pk)).data)


class SegmentCopyApi(StaffApi, APIView):
    @extend_schema(
        request=None,
        responses={201: SegmentOutputSerializer},
        summary="Copy a segment (a built-in one, to use it)",
        tags=["segments"],
    )
    def post(self, request, segment_id: int):
        copy = segment_copy(segment=segment_get(segment_id=segment_id))
        segments_recompute(segment_ids=[copy.pk])
        return Response(
            SegmentOutputSerializer(segment_get(segment_id=copy.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class SegmentMemberPagination(CursorPage):
    ordering = "id"
    page_size = 100
    max_page_size = 1000


class SegmentMembersApi(StaffApi, ListAPIView):
    class OutputSerializer(serializers.Serializer):
        external_id = serializers.CharField(source="member.external_id")
        entered_on = serializers.DateField()

    serializer_class = OutputSerializer
    pagination_class = SegmentMemberPagination

    def get_queryset(self):
        return segment_member_list(segment=segment_get(segment_id=self.kwargs["segment_id"]))

    @extend_schema(summary="A segment's current members (cursor pages)", tags=["segments"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
