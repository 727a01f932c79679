"""Durable client-side triggers: armed stops/brackets survive a restart of the bot.

`ClientTriggers` writes one plain JSON-able record per emulated order BEFORE each step that sends
something to the venue (write-ahead); a finished order's record keeps its final state for a retention
period, then a later start deletes it. On `connect()` the broker reloads the records and reconciles
them with the children already at the venue (by their derived client ids), so nothing is sent twice.
`StateTriggerStore` keeps the records in the bot's SQLite `StateStore` under
`coinbase.trigger.<order id>`.

Wiring (orchestrator, after the StateStore exists and before `broker.connect()`):
`attach_trigger_store(venue, state)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from gpt_trader.persistence.interfaces import StateStoreProtocol

KEY_PREFIX = "coinbase.trigger."


@runtime_checkable
class TriggerStore(Protocol):
    """Where `ClientTriggers` keeps its records. Every write is durable when it returns."""

    def save(self, trigger_id: str, record: dict[str, Any]) -> None: ...

    def delete(self, trigger_id: str) -> None: ...

    def load_all(self) -> dict[str, dict[str, Any]]: ...


class StateTriggerStore:
    """`TriggerStore` on a key -> JSON document store (the bot's `StateStore`)."""

    def __init__(self, state: StateStoreProtocol, *, prefix: str = KEY_PREFIX) -> None:
        if not prefix:
            raise ValueError("prefix must be non-empty: the trigger records share the state store with others")
        self.state = state
        self.prefix = prefix

    def save(self, trigger_id: str, record: dict[str, Any]) -> None:
        if not trigger_id:
            raise ValueError("trigger_id must be non-empty")
        self.state.put(self.prefix + trigger_id, record)

    def delete(self, trigger_id: str) -> None:
        self.state.delete(self.prefix + trigger_id)

    def load_all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key in self.state.keys(self.prefix):
            if not key.startswith(self.prefix):  # LIKE matches '_' and '%' in the prefix as wildcards
                continue
            record = self.state.get(key)
            if record is not None:
                out[key[len(self.prefix) :]] = record
        return out


def attach_trigger_store(venue: object, state: StateStoreProtocol) -> bool:
    """Give a `CoinbaseBroker` durable client-side triggers; any other venue is left alone (False)."""
    if getattr(venue, "name", None) != "coinbase":
        return False
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker

    if not isinstance(venue, CoinbaseBroker):
        return False
    venue.set_trigger_store(StateTriggerStore(state))
    return True
