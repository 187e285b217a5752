"""Order events share one base (the order they are about, when) and one list."""

import dataclasses
import inspect

from tradekit.core import events
from tradekit.core.events import ORDER_EVENT_TYPES, OrderEventBase


def test_every_order_event_is_in_the_list_and_carries_the_common_fields():
    defined = {
        cls
        for _, cls in inspect.getmembers(events, inspect.isclass)
        if issubclass(cls, OrderEventBase) and cls is not OrderEventBase
    }
    assert defined == set(ORDER_EVENT_TYPES)
    for cls in ORDER_EVENT_TYPES:
        names = [f.name for f in dataclasses.fields(cls)]
        assert "client_order_id" in names and "ts" in names, cls


def test_the_base_adds_no_field_and_no_slot():
    # the journal's codec reads each event's own dataclass fields: the base adds none
    assert not dataclasses.is_dataclass(OrderEventBase)
    assert OrderEventBase.__slots__ == ()
    ev = events.OrderAccepted("c-1", "o-1", 7)
    assert isinstance(ev, OrderEventBase)
    assert not hasattr(ev, "__dict__")
    assert not isinstance(events.MarketTrade("BTC-USD", 1, 1, 1), OrderEventBase)
