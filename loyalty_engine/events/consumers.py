"""Consumers inside the engine that are built from events, as webhooks are (messages to
members: rewards.services.messages). The dispatcher calls each registered consumer with
the batch of new events in its transaction; a consumer only writes rows for later work."""

from collections.abc import Callable

_consumers: list[Callable[[list], None]] = []


def event_consumer_register(consumer: Callable[[list], None]) -> None:
    if consumer not in _consumers:
        _consumers.append(consumer)


def event_consumers() -> list[Callable[[list], None]]:
    return list(_consumers)
