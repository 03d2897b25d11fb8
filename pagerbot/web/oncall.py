"""GET /oncall: who is on call now and next, per rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from pagerbot.services.context import Services
from pagerbot.services.oncall import shift_json, who_is_on_call


def router(ctx: Services, require_token: Any) -> APIRouter:
    api = APIRouter()

    @api.get("/oncall", summary="Who is on call now and next, per rotation")
    async def get_oncall(request: Request) -> dict[str, Any]:
        require_token(request)
        rotations = await who_is_on_call(ctx)
        return {"timezone": ctx.settings.config.timezone, "at": ctx.clock.now().isoformat(),
                "rotations": [{"name": r.name, "now": shift_json(r.now), "next": shift_json(r.next)}
                              for r in rotations]}

    return api
