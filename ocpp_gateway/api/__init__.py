"""REST API of remote operations, under /api/v1/: ``commands`` (send an OCPP operation to a
station, the command log, remote stop, the local list) and ``operations`` (what commands
leave behind: reservations, charging profiles, composite schedules). Parsing, pagination and
lookups come from csms.api.common."""
