"""The station's handlers of central-system-initiated operations, one mixin per family.

Every handler answers at once; follow-ups run after the answer (see ``StationCore._follow_up``).
"""
