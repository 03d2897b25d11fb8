"""SQLite's writers take turns in the process: first come first served, re-entrant, nothing on PostgreSQL."""

from __future__ import annotations

import asyncio

from pagerbot.store.turns import WriterTurns


async def test_writers_take_turns_in_arrival_order() -> None:
    turns = WriterTurns(enabled=True)
    inside: list[str] = []
    order: list[str] = []

    async def write(name: str, hold: float) -> None:
        async with turns.turn():
            inside.append(name)
            assert len(inside) == 1, f"{inside} wrote at once"
            order.append(name)
            await asyncio.sleep(hold)
            inside.remove(name)

    first = asyncio.create_task(write("worker", 0.05))
    await asyncio.sleep(0)  # the worker holds its turn
    await asyncio.gather(first, write("webhook-1", 0), write("webhook-2", 0))
    assert order == ["worker", "webhook-1", "webhook-2"]


async def test_a_write_nested_in_a_turn_does_not_wait_for_itself() -> None:
    turns = WriterTurns(enabled=True)
    async with turns.turn():
        async with asyncio.timeout(1), turns.turn():
            pass
    # and the turn is free again afterwards
    async with asyncio.timeout(1), turns.turn():
        pass


async def test_postgresql_writers_do_not_queue() -> None:
    turns = WriterTurns(enabled=False)
    async with turns.turn():
        other = asyncio.create_task(_enter(turns))
        await asyncio.wait_for(other, 1)  # entered while this one holds its "turn"


async def _enter(turns: WriterTurns) -> None:
    async with turns.turn():
        pass
