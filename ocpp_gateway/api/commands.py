"""Remote operations API, under /api/v1/: commands to stations and what they leave behind.

Sending goes through ocpp_gateway.calls (the one path from any process). A POST waits for the
station's answer and answers with the command record; the HTTP status says how the command
ended, the body says what the station answered:

* 200: the station answered: ``state`` is ``answered`` (``response`` holds its CALLRESULT; an
  OCPP status such as Rejected is still an answer) or ``failed`` (its CALLERROR code in
  ``error_code``, or it disconnected before answering).
* 202: ``?wait=0``: queued; poll ``GET /api/v1/commands/<id>/``.
* 504: no answer within the timeout: ``state`` is ``timed_out``.
* 400: unknown action or a payload the OCPP schema rejects (nothing was sent); 403: the
  caller's role may not send this operation (the reason in ``detail``); 404: unknown
  station; 409: station offline, or an operation its state forbids (RemoteStart/Stop while
  registration is Pending); 503: the station's gateway could not be reached.

Operators and support staff may read, and send (csms.permissions.CanSendCommands): operators
every operation, support staff the operational ones (csms.permissions.SUPPORT_COMMANDS, checked
in the send path); anyone else gets 403, anonymous callers 401.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from csms.api.common import (
    NewestFirstCursorPagination,
    charge_point_or_404,
    query_bool,
    query_choice,
    query_text,
    query_time_range,
    transaction_or_404,
)
from csms.models import CHARGE_POINT_LOCAL_LIST_FIELDS, ChargePoint, Command
from csms.permissions import CanSendCommands
from csms.selectors.commands import command_list
from csms.services.authorization import local_list_entries
from ocpp_gateway import calls
from ocpp_gateway.operations import EXAMPLE_PAYLOADS
from ocpp_gateway.schemas import CENTRAL_ACTIONS

logger = logging.getLogger(__name__)

ACTIONS = sorted(CENTRAL_ACTIONS)
COMMAND_STATES = [s.value for s in Command.State]


class CommandRefused(exceptions.APIException):
    """A calls.CommandError as an API error: its status, message, code and field."""

    def __init__(self, error: calls.CommandError) -> None:
        self.status_code = error.status_code
        detail: dict[str, Any] = {"detail": error.message, "code": error.code}
        if error.field:
            detail["field"] = error.field
        super().__init__(detail=detail)


def command_send_response(request: Request, **kwargs: Any) -> Response:
    """Run calls.command_send for the API caller (``?wait`` honoured) and shape the answer
    (see the module docstring)."""
    wait = query_bool(request, "wait")
    try:
        command = calls.command_send(
            issued_by=request.user, source="api", wait=wait is not False, **kwargs
        )
    except calls.CommandError as exc:
        raise CommandRefused(exc) from None
    body = CommandOutputSerializer(command).data
    if not command.is_final:
        return Response(
            body,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/commands/{command.pk}/"},
        )
    if command.state == Command.State.TIMED_OUT:
        return Response(body, status=status.HTTP_504_GATEWAY_TIMEOUT)
    return Response(body, status=status.HTTP_200_OK)


# --- Serializers ------------------------------------------------------------------------------


class CommandOutputSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(source="charge_point.identity", read_only=True)
    issued_by = serializers.CharField(
        source="issued_by.username", read_only=True, allow_null=True, default=None
    )
    request = serializers.JSONField(read_only=True, help_text="The payload as sent.")
    response = serializers.JSONField(
        read_only=True, allow_null=True, help_text="The station's CALLRESULT payload."
    )
    error_details = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = Command
        fields = [
            "id",
            "charge_point",
            "action",
            "request",
            "state",
            "response",
            "error_code",
            "error_description",
            "error_details",
            "issued_by",
            "source",
            "timeout",
            "created_at",
            "sent_at",
            "completed_at",
        ]
        read_only_fields = fields


class CommandInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=ACTIONS,
        help_text="An OCPP 1.6 operation of the central system.",
        error_messages={
            "invalid_choice": '"{input}" is not an OCPP 1.6 central-system operation. Use one '
            "of: " + ", ".join(ACTIONS) + "."
        },
    )
    payload = serializers.JSONField(
        default=dict,
        help_text="The OCPP JSON payload of the call, checked against the OCPP 1.6 schema. "
        "SendLocalList may leave out listVersion (the station's accepted version + 1) and "
        "localAuthorizationList (built from the id-tag registry); ReserveNow leaves out "
        "reservationId (assigned by the CSMS).",
    )
    timeout = serializers.FloatField(
        required=False,
        min_value=0.1,
        max_value=calls.MAX_TIMEOUT_SECONDS,
        help_text="Seconds to wait for the answer (default OCPP_COMMAND_TIMEOUT, 30).",
    )


def _examples() -> list[OpenApiExample]:
    examples = []
    for action, items in EXAMPLE_PAYLOADS.items():
        for title, payload in items:
            examples.append(
                OpenApiExample(
                    f"{action}: {title}",
                    summary=f"{action}: {title}",
                    value={"action": action, "payload": payload},
                    request_only=True,
                )
            )
    return examples


WAIT_PARAM = OpenApiParameter(
    "wait",
    OpenApiTypes.STR,
    enum=["0", "1"],
    description="1 (default): wait for the station's answer; 0: answer 202 once queued.",
)
COMMAND_RESPONSES = {
    200: OpenApiResponse(
        CommandOutputSerializer,
        description="The station answered: state answered (CALLRESULT in response) or failed "
        "(CALLERROR in error_code/error_description, or it disconnected).",
    ),
    202: OpenApiResponse(CommandOutputSerializer, description="Queued (wait=0)."),
    400: OpenApiResponse(description="Unknown action or invalid payload; nothing was sent."),
    401: OpenApiResponse(description="Not authenticated."),
    403: OpenApiResponse(
        description="Not an operator or support staff, or an operation reserved to operators "
        '(support staff: see the README\'s "Who may send what").'
    ),
    404: OpenApiResponse(description="Unknown station."),
    409: OpenApiResponse(
        description="Station offline, or the operation is not allowed in its state."
    ),
    503: OpenApiResponse(description="The station's gateway could not be reached."),
    504: OpenApiResponse(
        CommandOutputSerializer, description="No answer in time: state timed_out."
    ),
}


# --- Commands -------------------------------------------------------------------------------


class CommandPagination(NewestFirstCursorPagination):
    page_size = 50
    max_page_size = 500
    ordering = ("-created_at",)


COMMAND_FILTERS = [
    OpenApiParameter("charge_point", OpenApiTypes.STR, description="Station identity."),
    OpenApiParameter("action", OpenApiTypes.STR, enum=ACTIONS),
    OpenApiParameter("state", OpenApiTypes.STR, enum=COMMAND_STATES),
    OpenApiParameter("issued_by", OpenApiTypes.STR, description="Issuer's username."),
    OpenApiParameter("source", OpenApiTypes.STR, description="api, admin, task, cli"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Created at or after."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Created before."),
]


def _filtered_commands(request: Request, **fixed: Any) -> QuerySet[Command]:
    filters: dict[str, Any] = {
        "charge_point": query_text(request, "charge_point"),
        "action": query_choice(request, "action", ACTIONS),
        "state": query_choice(request, "state", COMMAND_STATES),
        "issued_by": query_text(request, "issued_by"),
        "source": query_text(request, "source"),
    }
    filters["since"], filters["until"] = query_time_range(request, "since", "until")
    filters.update(fixed)
    return command_list(**filters)


@extend_schema_view(
    get=extend_schema(
        summary="A station's commands, newest first",
        parameters=[p for p in COMMAND_FILTERS if p.name != "charge_point"],
        responses=CommandOutputSerializer(many=True),
    ),
    post=extend_schema(
        summary="Send an OCPP operation to a station and wait for its answer",
        description=__doc__,
        request=CommandInputSerializer,
        parameters=[WAIT_PARAM],
        responses=COMMAND_RESPONSES,
        examples=_examples(),
    ),
)
class ChargePointCommandApi(generics.ListAPIView):
    permission_classes = [CanSendCommands]
    serializer_class = CommandOutputSerializer
    pagination_class = CommandPagination

    def get_queryset(self) -> QuerySet[Command]:
        charge_point = charge_point_or_404(self.kwargs["identity"])
        return _filtered_commands(self.request, charge_point=charge_point.identity)

    def post(self, request: Request, identity: str) -> Response:
        charge_point = charge_point_or_404(identity)
        data = CommandInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return command_send_response(
            request,
            charge_point=charge_point,
            action=data.validated_data["action"],
            payload=data.validated_data["payload"],
            timeout=data.validated_data.get("timeout"),
        )


@extend_schema(summary="The command log, newest first", parameters=COMMAND_FILTERS)
class CommandListApi(generics.ListAPIView):
    permission_classes = [CanSendCommands]
    serializer_class = CommandOutputSerializer
    pagination_class = CommandPagination

    def get_queryset(self) -> QuerySet[Command]:
        return _filtered_commands(self.request)


@extend_schema(summary="One command: what was sent, and what the station answered")
class CommandDetailApi(generics.RetrieveAPIView):
    permission_classes = [CanSendCommands]
    serializer_class = CommandOutputSerializer

    def get_object(self) -> Command:
        command = command_list().filter(pk=self.kwargs["pk"]).first()
        if command is None:
            raise exceptions.NotFound(f"No command {self.kwargs['pk']}.")
        return command


# --- Conveniences ---------------------------------------------------------------------------


@extend_schema(
    summary="Stop a running transaction (RemoteStopTransaction to its station)",
    request=None,
    parameters=[WAIT_PARAM],
    responses={
        **COMMAND_RESPONSES,
        409: OpenApiResponse(description="Station offline, or the transaction already ended."),
    },
)
class TransactionRemoteStopApi(APIView):
    permission_classes = [CanSendCommands]

    def post(self, request: Request, pk: int) -> Response:
        tx = transaction_or_404(pk)
        if tx.stopped_at is not None:
            raise CommandRefused(
                calls.CommandNotAllowed(f"Transaction {pk} already ended at {tx.stopped_at}.")
            )
        return command_send_response(
            request,
            charge_point=tx.charge_point,
            action="RemoteStopTransaction",
            payload={"transactionId": tx.pk},
        )


class LocalListInputSerializer(serializers.Serializer):
    update_type = serializers.ChoiceField(choices=["Full", "Differential"], default="Full")
    id_tags = serializers.ListField(
        child=serializers.CharField(max_length=20),
        required=False,
        allow_empty=True,
        help_text="Only these tags. Leave out for every registered tag. In a Differential "
        "update a tag that is not registered is removed from the station's list; a Full list "
        "may only name registered tags ([] empties the list).",
    )


class LocalListStateSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(source="identity", read_only=True)

    class Meta:
        model = ChargePoint
        fields = ["charge_point", *CHARGE_POINT_LOCAL_LIST_FIELDS]
        read_only_fields = fields


@extend_schema_view(
    get=extend_schema(
        summary="The station's local list version: last accepted, last reported, mismatch",
        responses=LocalListStateSerializer,
    ),
    post=extend_schema(
        summary="Push the local authorization list (SendLocalList) from the id-tag registry",
        description="Builds the list from the id-tag registry (each tag's idTagInfo as "
        "Authorize would answer), with listVersion = the station's accepted version + 1. "
        "The station's version is updated when it answers Accepted.",
        request=LocalListInputSerializer,
        parameters=[WAIT_PARAM],
        responses=COMMAND_RESPONSES,
        examples=[
            OpenApiExample("Full list of every tag", value={"update_type": "Full"}),
            OpenApiExample(
                "Differential: update two tags",
                value={"update_type": "Differential", "id_tags": ["04A2B3C4", "04D5E6F7"]},
            ),
        ],
    ),
)
class ChargePointLocalListApi(APIView):
    permission_classes = [CanSendCommands]

    def get(self, request: Request, identity: str) -> Response:
        return Response(LocalListStateSerializer(charge_point_or_404(identity)).data)

    def post(self, request: Request, identity: str) -> Response:
        charge_point = charge_point_or_404(identity)
        data = LocalListInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        update_type = data.validated_data["update_type"]
        try:
            entries = local_list_entries(
                update_type=update_type, id_tags=data.validated_data.get("id_tags")
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        # listVersion is left to calls (the station's accepted version + 1), as for the
        # generic endpoint.
        return command_send_response(
            request,
            charge_point=charge_point,
            action="SendLocalList",
            payload={"updateType": update_type, "localAuthorizationList": entries},
        )
