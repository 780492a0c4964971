"""The review workbench's API: sign-in for validators, the next task, submitting a review,
and the team's progress for leads (medner.review; docs/review.md).

The handlers are plain functions: FastAPI runs them in its thread pool, so the database work
(and the argon2 check at sign-in) never holds the event loop.

Who calls: a browser signed in with a validator's name and password (a session cookie,
``HttpOnly`` and ``SameSite=Strict``, and a CSRF token that every state-changing request
must send in ``X-CSRF-Token``), or a machine with an API key of scope ``review``. Refusals:
401 not signed in, 403 wrong role, wrong scope or missing CSRF token, 429 locked out after
repeated failed sign-ins, 422 an entity outside the note, overlapping another or with an
unknown label (naming the field).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi import Path as FastPath
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medner.review import ReviewError, next_task, progress, skip_task, submit
from medner.review.accounts import LockedOut, SignedIn, session_of, sign_in, sign_out
from medner.serving.deps import GuardedRoute, ServicesDep, error
from medner.store.tables import Review, ReviewTask

router = APIRouter(route_class=GuardedRoute, tags=["review"])
COOKIE = "medner_review"
CSRF_HEADER = "x-csrf-token"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entities: list[Any] = Field(description="The validated entities: start, end, label.")
    actions: list[dict[str, Any]] = Field(default_factory=list, description="What was done.")
    seconds_active: float = Field(0.0, ge=0, le=86_400)


def _refused(what: str, exc: ReviewError) -> JSONResponse:
    """A 422 naming the field, in the shape of the API's other validation errors."""
    return JSONResponse(
        {"detail": f"{what}: {exc}", "errors": [{"field": exc.field, "message": str(exc)}]},
        status_code=422,
    )


def _engine(services: ServicesDep) -> Engine:
    return services.review_engine()


EngineDep = Annotated[Engine, Depends(_engine)]


def signed_in(request: Request, engine: EngineDep, services: ServicesDep) -> SignedIn:
    """The caller: a session cookie (state-changing requests must carry its CSRF token) or an
    API key with the ``review`` scope."""
    token = request.cookies.get(COOKIE)
    if token:
        who = session_of(engine, token)
        if who is None:
            raise HTTPException(401, "the session has ended: sign in again")
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get(CSRF_HEADER, "")
            if not secrets.compare_digest(sent, who.csrf):
                raise HTTPException(403, "missing or wrong X-CSRF-Token")
        request.state.key_id = f"reviewer:{who.reviewer}"
        return who
    auth = request.headers.get("authorization", "")
    key = services.keys.authenticate(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
    if key is None:
        raise HTTPException(401, "sign in at /review, or send 'Authorization: Bearer <key>'")
    if "review" not in key.scopes:
        raise HTTPException(403, "this key lacks the 'review' scope")
    request.state.key_id = key.key_id
    return SignedIn(f"key:{key.key_id}", "validator", "")


WhoDep = Annotated[SignedIn, Depends(signed_in)]


@router.post("/review/login", summary="Sign in a validator")
def login(body: LoginRequest, request: Request, engine: EngineDep) -> Any:
    try:
        result = sign_in(engine, body.name, body.password)
    except LockedOut as exc:
        return error(429, str(exc), {"Retry-After": "900"})
    if result is None:
        return error(401, "wrong name or password")
    token, who = result
    response = JSONResponse({"reviewer": who.reviewer, "role": who.role, "csrf": who.csrf})
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/review/logout", summary="Sign out")
def logout(request: Request, who: WhoDep, engine: EngineDep) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        sign_out(engine, token)
    response = JSONResponse({"signed_out": who.reviewer})
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/v1/review/next", summary="The next note to review (leased to the caller)")
def next_note(who: WhoDep, engine: EngineDep) -> Any:
    task = next_task(engine, who.reviewer)
    if task is None:
        return Response(status_code=204)
    return {
        "task_id": task.id,
        "note_id": task.note_id,
        "text": task.text,
        "predictions": task.predictions,
        "model_version": task.model_version,
        "lease_expires_at": task.lease_expires_at.isoformat(),
    }


@router.post("/v1/review/tasks/{task_id}/submit", summary="Submit a reviewed note")
def submit_review(
    task_id: Annotated[int, FastPath(ge=1, le=2**31 - 1)],
    body: SubmitRequest,
    who: WhoDep,
    engine: EngineDep,
) -> Any:
    try:
        review_id = submit(
            engine, who.reviewer, task_id, body.entities, body.actions, body.seconds_active
        )
    except ReviewError as exc:
        return _refused("invalid review", exc)
    return {"saved": True, "review_id": review_id}


@router.get("/v1/review/team", summary="Reviews per validator and the queue left (leads)")
def team(who: WhoDep, engine: EngineDep) -> Any:
    if who.role != "lead":
        raise HTTPException(403, "leads only")
    with Session(engine) as session:
        done = dict(
            session.execute(
                select(Review.reviewer, func.count(Review.id)).group_by(Review.reviewer)
            ).all()
        )
        tasks = session.execute(select(func.count(ReviewTask.id))).scalar_one()
        reviewed = session.execute(select(func.count(func.distinct(Review.task_id)))).scalar_one()
    return {"reviews": done, "tasks": tasks, "left": tasks - reviewed}


STATIC = Path(__file__).resolve().parent.parent / "static" / "review"
ASSETS = {"review.js": "text/javascript", "review.css": "text/css"}


@router.get("/review", include_in_schema=False)
async def page() -> FileResponse:
    """The workbench page (it signs in, then works through the API above)."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/review/assets/{name}", include_in_schema=False, response_model=None)
async def asset(name: str) -> FileResponse | JSONResponse:
    if name not in ASSETS:
        return error(404, f"no asset {name!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name])


@router.get("/review/me", summary="Who is signed in (and the session's CSRF token)")
async def me(who: WhoDep) -> Any:
    return {"reviewer": who.reviewer, "role": who.role, "csrf": who.csrf}


@router.get("/v1/review/progress", summary="The caller's reviews today and the queue left")
def my_progress(who: WhoDep, engine: EngineDep) -> Any:
    return progress(engine, who.reviewer)


@router.post("/v1/review/tasks/{task_id}/skip", summary="Give a task back to the queue")
def skip(
    task_id: Annotated[int, FastPath(ge=1, le=2**31 - 1)], who: WhoDep, engine: EngineDep
) -> Any:
    try:
        skip_task(engine, who.reviewer, task_id)
    except ReviewError as exc:
        return _refused("cannot skip", exc)
    return {"skipped": task_id}
