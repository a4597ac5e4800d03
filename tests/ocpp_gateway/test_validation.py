"""Bad frames: the OCPP-J 1.6 error code for each, the connection stays up, nothing stored is
harmed, and every frame is in the message log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from csms.models import Connector, DataTransfer, MessageLog, StatusNotification
from ocpp_gateway.schemas import PropertyConstraintViolation, validate_request, validate_response
from tests.factories import make_charge_point, make_connector
from tests.ocpp_gateway.support import assert_error, assert_result, db, drain, frame, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def cp():
    return await db(make_charge_point)(identity="CP1")


@pytest.fixture
async def station(cp, connect_station):
    return await connect_station("CP1")


async def still_up(station) -> None:
    """The connection survived: a Heartbeat right after is answered."""
    answer = await send(station, frame("heartbeat"))
    assert answer[0] == 3 and answer[1] == "19223201", answer


def status(**changes):
    return frame("status_notification_faulted", **changes)


# --- Frames that are not OCPP-J -------------------------------------------------------------


async def test_a_non_json_frame_with_a_readable_id_gets_formation_violation(station):
    await station.send_text('[2, "broken-1", "Heartbeat", {')

    assert_error(await station.receive(), "FormationViolation", "broken-1")
    await still_up(station)


@pytest.mark.parametrize(
    "text",
    ["hello", "", "   ", "[2, 17", "\x00\x01garbage", '{"not": "closed"'],
    ids=["word", "empty", "blank", "truncated", "control-chars", "broken-object"],
)
async def test_a_non_json_frame_without_readable_id_gets_no_answer(station, text):
    # send_to() refuses an empty string; a real socket can carry one.
    await station.communicator.send_input({"type": "websocket.receive", "text": text})

    assert await station.receive_nothing()
    await still_up(station)


@pytest.mark.parametrize(
    "parsed",
    [{"messageTypeId": 2}, "Heartbeat", 2, None, [], True],
    ids=["object", "string", "number", "null", "empty-array", "bool"],
)
async def test_json_that_is_not_an_array_frame_gets_no_answer(station, parsed):
    await station.send_text(json.dumps(parsed))

    assert await station.receive_nothing()
    await still_up(station)


@pytest.mark.parametrize("message_type", [5, 0, "2", 2.0, True, None])
async def test_an_unknown_message_type_gets_formation_violation(station, message_type):
    await station.send_text(json.dumps([message_type, "odd-1", "Heartbeat", {}]))

    assert_error(await station.receive(), "FormationViolation", "odd-1")
    await still_up(station)


@pytest.mark.parametrize(
    "bad_call",
    [
        [2, "c-1", "Heartbeat"],
        [2, "c-1", "Heartbeat", {}, {}],
        [2, "c-1"],
        [2, "c-1", 7, {}],
        [2, "c-1", "", {}],
    ],
    ids=["three-elements", "five-elements", "two-elements", "action-not-string", "no-action"],
)
async def test_a_call_with_the_wrong_shape_gets_formation_violation(station, bad_call):
    await station.send_text(json.dumps(bad_call))

    assert_error(await station.receive(), "FormationViolation", "c-1")
    await still_up(station)


async def test_a_call_whose_message_id_is_not_a_string_is_answered_with_that_id(station):
    await station.send_text(json.dumps([2, 17, "Heartbeat", {}]))

    assert_error(await station.receive(), "FormationViolation", 17)
    await still_up(station)


async def test_a_call_without_any_readable_id_gets_no_answer(station):
    await station.send_text(json.dumps([2]))

    assert await station.receive_nothing()
    await still_up(station)


@pytest.mark.parametrize("payload", [[], "x", 1, None])
async def test_a_payload_that_is_not_an_object_gets_formation_violation(station, payload):
    await station.send_text(json.dumps([2, "p-1", "Heartbeat", payload]))

    assert_error(await station.receive(), "FormationViolation", "p-1")
    await still_up(station)


async def test_a_binary_frame_is_ignored_and_logged(station):
    await station.communicator.send_to(bytes_data=b"\x02\x00binary")

    assert await station.receive_nothing()
    await still_up(station)
    await drain()
    assert await MessageLog.objects.filter(direction="in", payload__contains="binary").aexists()


async def test_an_answer_to_a_call_we_never_made_gets_no_answer_and_is_logged(station):
    await station.send_text(json.dumps([3, "never-sent", {"status": "Accepted"}]))
    await station.send_text(json.dumps([4, "never-sent-2", "GenericError", "", {}]))

    assert await station.receive_nothing()
    await still_up(station)
    await drain()
    assert await MessageLog.objects.filter(message_id="never-sent", message_type=3).aexists()
    assert await MessageLog.objects.filter(message_id="never-sent-2", message_type=4).aexists()


# --- Payload validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "action,payload,code",
    [
        # Required field missing.
        ("BootNotification", {"chargePointVendor": "XQ"}, "OccurenceConstraintViolation"),
        (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError"},
            "OccurenceConstraintViolation",
        ),
        ("MeterValues", {"connectorId": 1, "meterValue": []}, "OccurenceConstraintViolation"),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": "2024-05-14T10:00:00Z", "sampledValue": [{}]}],
            },
            "OccurenceConstraintViolation",
        ),
        (
            "StopTransaction",
            {"transactionId": 1, "timestamp": "2024-05-14T10:00:00Z"},
            "OccurenceConstraintViolation",
        ),
        # Wrong JSON type.
        (
            "StatusNotification",
            {"connectorId": "1", "errorCode": "NoError", "status": "Available"},
            "TypeConstraintViolation",
        ),
        (
            "StartTransaction",
            {"connectorId": 1, "idTag": 42, "meterStart": 0, "timestamp": "2024-05-14T10:00:00Z"},
            "TypeConstraintViolation",
        ),
        (
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "T",
                "meterStart": 1.5,
                "timestamp": "2024-05-14T10:00:00Z",
            },
            "TypeConstraintViolation",
        ),
        (
            "MeterValues",
            {"connectorId": 1, "meterValue": {"timestamp": "2024-05-14T10:00:00Z"}},
            "TypeConstraintViolation",
        ),
        (
            "StatusNotification",
            {"connectorId": True, "errorCode": "NoError", "status": "Available"},
            "TypeConstraintViolation",
        ),
        # Bad enum value.
        (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
            "PropertyConstraintViolation",
        ),
        (
            "StopTransaction",
            {
                "transactionId": 1,
                "meterStop": 1,
                "timestamp": "2024-05-14T10:00:00Z",
                "reason": "Bored",
            },
            "PropertyConstraintViolation",
        ),
        # String too long.
        ("Authorize", {"idTag": "X" * 21}, "PropertyConstraintViolation"),
        (
            "BootNotification",
            {"chargePointVendor": "V" * 21, "chargePointModel": "M"},
            "PropertyConstraintViolation",
        ),
        # Integer out of range.
        (
            "StatusNotification",
            {"connectorId": -1, "errorCode": "NoError", "status": "Available"},
            "PropertyConstraintViolation",
        ),
        (
            "StatusNotification",
            {"connectorId": 2**31, "errorCode": "NoError", "status": "Available"},
            "PropertyConstraintViolation",
        ),
        (
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "T",
                "meterStart": 2**63,
                "timestamp": "2024-05-14T10:00:00Z",
            },
            "PropertyConstraintViolation",
        ),
        # Timestamps: parsed by us, an unreadable one is a type violation.
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "yesterday",
            },
            "TypeConstraintViolation",
        ),
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "2024-05-14",
            },
            "TypeConstraintViolation",
        ),
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "2024-13-45T10:00:00Z",
            },
            "TypeConstraintViolation",
        ),
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "0001-01-01T00:00:00+01:00",
            },
            "TypeConstraintViolation",
        ),
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": 1715680800,
            },
            "TypeConstraintViolation",
        ),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": "soon", "sampledValue": [{"value": "1"}]}],
            },
            "TypeConstraintViolation",
        ),
        (
            "StopTransaction",
            {"transactionId": 1, "meterStop": 1, "timestamp": "x"},
            "TypeConstraintViolation",
        ),
    ],
)
async def test_an_invalid_payload_gets_the_ocpp16_error_code(station, action, payload, code):
    answer = await send(station, [2, "v-1", action, payload])

    assert_error(answer, code, "v-1")
    await still_up(station)


async def test_the_error_names_the_offending_field(station):
    answer = await send(station, [2, "v-2", "Authorize", {"idTag": "X" * 21}])

    assert "idTag" in answer[3]
    assert answer[4].get("field") == "idTag"


async def test_an_invalid_message_harms_nothing_stored(station, cp):
    await db(make_connector)(charge_point=cp, connector_id=1, status="Charging")
    bad = status(status="Sleeping")

    assert_error(await send(station, bad), "PropertyConstraintViolation")

    connector = await Connector.objects.aget(charge_point=cp, connector_id=1)
    assert connector.status == "Charging"
    assert await StatusNotification.objects.acount() == 0


async def test_a_timestamp_without_zone_is_read_as_utc(station):
    assert_result(await send(station, status(timestamp="2024-05-14T09:30:12")))

    connector = await Connector.objects.aget(connector_id=1)
    assert connector.status_timestamp == datetime(2024, 5, 14, 9, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-05-14T11:30:12+02:00",
        "2024-05-14T09:30:12.000Z",
        "2024-05-14T09:30:12.0000000Z",  # .NET-style 7 fraction digits
        "2024-05-14T04:30:12-05:00",
        "2024-05-14t09:30:12z",
    ],
)
async def test_timestamps_are_normalised_to_utc(station, stamp):
    assert_result(await send(station, status(timestamp=stamp)))

    connector = await Connector.objects.aget(connector_id=1)
    assert connector.status_timestamp == datetime(2024, 5, 14, 9, 30, 12, tzinfo=UTC)


async def test_vendor_fields_beside_standard_ones_are_accepted(station):
    extra = status(customData={"vendorId": "com.abb", "x": 1}, abbErrorCategory=3)

    assert_result(await send(station, extra))


# --- Actions --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["Hearbeat", "BootNotificationX", "GetVariables", "x" * 200])
async def test_an_action_unknown_to_ocpp16_gets_not_implemented(station, action):
    assert_error(await send(station, [2, "a-1", action, {}]), "NotImplemented", "a-1")
    await still_up(station)


@pytest.mark.parametrize(
    "fixture",
    ["security_event_notification", "remote_start_transaction_from_station"],
)
async def test_a_known_16_action_we_do_not_handle_gets_not_supported(station, fixture):
    assert_error(await send(station, fixture), "NotSupported")
    await still_up(station)


@pytest.mark.parametrize(
    "action", ["LogStatusNotification", "SignedFirmwareStatusNotification", "Reset", "GetLog"]
)
async def test_other_known_16_actions_get_not_supported(station, action):
    assert_error(await send(station, [2, "a-2", action, {}]), "NotSupported", "a-2")


# --- Robustness -----------------------------------------------------------------------------


async def test_nul_characters_in_strings_do_not_cost_the_message(station):
    nul = [2, "n-1", "DataTransfer", {"vendorId": "com.x", "data": "a\u0000b"}]

    assert_result(await send(station, nul))

    assert (await DataTransfer.objects.aget()).data == "ab"
    await drain()
    logged = await MessageLog.objects.filter(message_id="n-1", direction="in").aget()
    assert json.loads(logged.payload) == nul  # the log keeps the frame as sent


async def test_a_raw_nul_in_a_broken_frame_is_logged(station):
    await station.send_text("\x00[2,")

    assert await station.receive_nothing()
    await still_up(station)
    await drain()
    assert await MessageLog.objects.filter(payload__startswith="\\u0000[2,").aexists()


async def test_a_message_id_of_36_characters_is_answered(station):
    uuid = "5f3c2b1a-0d9e-4c8b-a7f6-e5d4c3b2a190"

    assert_result(await send(station, [2, uuid, "Heartbeat", {}]), uuid)


@pytest.mark.parametrize("length", [37, 100])
async def test_a_message_id_longer_than_36_characters_gets_formation_violation(station, length):
    # OCPP-J 1.6 §4.1.4: a message id is at most 36 characters. The answer carries the id as
    # sent, so the station can still match it to its call.
    long_id = "i" * length

    assert_error(await send(station, [2, long_id, "Heartbeat", {}]), "FormationViolation", long_id)
    await still_up(station)


async def test_bad_frames_in_a_row_leave_the_station_working(station):
    for text in ["x", "[]", '[2,"a","Nope",{}]', '[2,"b","Heartbeat",[]]', '[9,"c"]']:
        await station.send_text(text)
    answers = [await station.receive() for _ in range(3)]

    assert [a[2] for a in answers] == ["NotImplemented", "FormationViolation", "FormationViolation"]
    await still_up(station)


# --- Message log ----------------------------------------------------------------------------


async def test_every_frame_in_and_out_is_logged(station, cp):
    await send(station, "heartbeat")
    await send(station, [2, "bad-1", "Authorize", {}])
    await station.send_text("not json")
    await still_up(station)
    await drain()

    rows = [
        (r.direction, r.message_type, r.action, r.message_id, r.charge_point_id)
        async for r in MessageLog.objects.filter(identity="CP1").order_by("id")
    ]
    assert rows == [
        ("in", 2, "Heartbeat", "19223201", cp.pk),
        ("out", 3, "Heartbeat", "19223201", cp.pk),
        ("in", 2, "Authorize", "bad-1", cp.pk),
        ("out", 4, "Authorize", "bad-1", cp.pk),
        ("in", None, "", "", cp.pk),
        ("in", 2, "Heartbeat", "19223201", cp.pk),
        ("out", 3, "Heartbeat", "19223201", cp.pk),
    ]
    payloads = [r.payload async for r in MessageLog.objects.filter(identity="CP1").order_by("id")]
    assert json.loads(payloads[0]) == frame("heartbeat")
    assert json.loads(payloads[3])[:3] == [4, "bad-1", "OccurenceConstraintViolation"]
    assert payloads[4] == "not json"


async def test_the_message_log_can_be_switched_off(station, settings):
    settings.OCPP_MESSAGE_LOG_ENABLED = False

    await send(station, "heartbeat")
    await drain()

    assert await MessageLog.objects.acount() == 0


async def test_absurdly_deep_nesting_does_not_kill_the_connection(station):
    await station.send_text("[" * 100_000 + "]" * 100_000)
    assert await station.receive_nothing()

    deep = "[" * 50_000 + "]" * 50_000
    await station.send_text(f'[2, "deep-1", "DataTransfer", {{"vendorId": "x", "n": {deep}}}]')
    assert_error(await station.receive(), "FormationViolation", "deep-1")
    await still_up(station)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_standard_json_constants_are_not_json(station, constant):
    # Python's json module accepts them; JSON (and PostgreSQL's jsonb) does not.
    await station.send_text(
        f'[2, "nan-1", "BootNotification", {{"chargePointVendor": "V", '
        f'"chargePointModel": "M", "customData": {{"t": {constant}}}}}]'
    )

    assert_error(await station.receive(), "FormationViolation", "nan-1")
    await still_up(station)


# --- Bounds the gateway adds to the official schemas ----------------------------------------


@pytest.mark.parametrize(
    "validate,action,payload",
    [
        # OCPP 1.6 §5.10: -1 = the station does not support local lists, 0 = an empty list.
        (validate_response, "GetLocalListVersion", {"listVersion": -1}),
        (validate_response, "GetLocalListVersion", {"listVersion": 0}),
        # §6.45: connectorId 0 is the whole station (also in StatusNotification, MeterValues).
        (
            validate_request,
            "StatusNotification",
            {"connectorId": 0, "errorCode": "NoError", "status": "Available"},
        ),
        # §6.41: reservationId is a bare integer; one we never issued is still a session.
        (
            validate_request,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "T",
                "meterStart": 0,
                "reservationId": -5,
                "timestamp": "2024-05-14T10:00:00Z",
            },
        ),
        # startPeriod is seconds from the schedule's start, no sign bound in the spec.
        (
            validate_response,
            "GetCompositeSchedule",
            {
                "status": "Accepted",
                "connectorId": 0,
                "chargingSchedule": {
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
                },
            },
        ),
    ],
    ids=["no-local-list", "empty-local-list", "connector-0", "foreign-reservation", "period-0"],
)
def test_values_the_spec_allows_pass_our_added_bounds(validate, action, payload):
    validate(action, payload)


def test_a_local_list_version_below_minus_one_is_still_refused():
    with pytest.raises(PropertyConstraintViolation):
        validate_response("GetLocalListVersion", {"listVersion": -2})


# --- Values no field can hold: non-finite numbers, lone surrogates ----------------------------
# Decision: TypeConstraintViolation, naming the field. The frame is valid JSON syntax, but the
# value is of no OCPP type: 1e999 is beyond every JSON number implementation's range (it parses
# to infinity, which JSON cannot even write back) and a lone UTF-16 surrogate is not a Unicode
# character (a CiString is printable ASCII; UTF-8, PostgreSQL and SQLite all refuse it).

BOOT_WITH_EXTRA = (
    '[2, "x-1", "BootNotification", {{"chargePointVendor": "V", "chargePointModel": "M", '
    '"customData": {{"reading": {value}}}}}]'
)


@pytest.mark.parametrize(
    "value", ["1e999", "-1e999", "1" + "0" * 400 + ".5"], ids=["1e999", "-1e999", "long-literal"]
)
async def test_a_non_finite_number_in_a_vendor_field_gets_type_constraint_violation(station, value):
    answer = assert_error(
        await station_send_text(station, BOOT_WITH_EXTRA.format(value=value)),
        "TypeConstraintViolation",
        "x-1",
    )

    assert answer[4] == {"field": "customData.reading"}
    await still_up(station)


@pytest.mark.parametrize(
    "text,field",
    [
        (r'[2, "s-1", "Authorize", {"idTag": "AB\ud800"}]', "idTag"),
        (r'[2, "s-1", "DataTransfer", {"vendorId": "com.x", "data": "\udfff"}]', "data"),
        (
            r'[2, "s-1", "BootNotification", {"chargePointVendor": "V", '
            r'"chargePointModel": "M", "customData": {"\ud800": 1}}]',
            "customData.\\ud800",
        ),
        (
            r'[2, "s-1", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": '
            r'"2024-05-14T10:00:00Z", "sampledValue": [{"value": "1\uDBFF"}]}]}]',
            "meterValue.0.sampledValue.0.value",
        ),
    ],
    ids=["id-tag", "data-transfer", "vendor-key", "nested-upper-case-escape"],
)
async def test_a_lone_surrogate_in_any_field_gets_type_constraint_violation(station, text, field):
    answer = assert_error(await station_send_text(station, text), "TypeConstraintViolation", "s-1")

    assert answer[4] == {"field": field}
    await still_up(station)
    await drain()
    logged = await MessageLog.objects.filter(message_id="s-1", direction="in").aget()
    assert logged.payload == text  # the frame as sent, escapes and all


async def test_a_surrogate_pair_is_a_character_like_any_other(station):
    pair = r'[2, "e-1", "DataTransfer", {"vendorId": "com.x", "data": "\ud83d\udd0c"}]'

    assert_result(await station_send_text(station, pair))

    assert (await DataTransfer.objects.aget()).data == "\U0001f50c"


async def test_a_lone_surrogate_in_the_action_gets_not_implemented(station):
    answer = await station_send_text(station, r'[2, "a-9", "Heart\ud800beat", {}]')

    assert_error(answer, "NotImplemented", "a-9")
    answer[3].encode("utf-8")  # what goes back on the wire is valid UTF-8
    await still_up(station)
    await drain()
    logged = await MessageLog.objects.filter(message_id="a-9", direction="in").aget()
    assert logged.action == "Heart\\ud800beat"


async def test_a_lone_surrogate_in_the_message_id_gets_no_answer_and_is_logged(station, cp):
    # Any answer would have to carry the same id, which no UTF-8 text can: a real socket
    # would fail to encode it and close the connection with 1011 (tests/e2e covers that).
    await station.send_text(r'[2, "id-\ud800", "Heartbeat", {}]')

    assert await station.receive_nothing()
    await still_up(station)
    await drain()
    logged = await MessageLog.objects.filter(message_id="id-\\ud800").aget()
    assert (logged.direction, logged.action, logged.charge_point_id) == ("in", "Heartbeat", cp.pk)


async def station_send_text(station, text: str) -> list:
    await station.send_text(text)
    return await station.receive()
