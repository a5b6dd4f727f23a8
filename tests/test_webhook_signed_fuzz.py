"""Correctly signed Twilio webhooks with hostile form values: never a 5xx, nothing lost, no SSRF.

``tests/test_api_bad_input_sweep.py`` proves unsigned and forged posts get 403. This sweep
signs every request with the real ``TWILIO_AUTH_TOKEN`` (Twilio's own ``RequestValidator``,
over PUBLIC_BASE_URL + path + query), so hostile values get past the signature check and
reach the services: missing and empty fields, 100,000-character text, NUL bytes, invalid
UTF-8, nonsense ``NumMedia``, media and recording URLs off Twilio's hosts (the metadata
address, another domain, a Twilio-looking domain), garbage content types, numbers that are
not numbers, unknown calls, another call's CallSid, turns never asked, ``Confidence=NaN`` and
replayed deliveries.

Each (route, case) is one test. Requests commit for real, and the RQ jobs a webhook enqueues
on the ``default`` queue run in-process afterwards (``SimpleWorker``, JSON serializer), so a
crash in a job fails the case too. All outgoing HTTP goes through respx: GETs to Twilio's
media hosts are answered, and any other request fails the case (and is never sent).

Every case expects a 2xx or 4xx (Twilio retries a 5xx), a 4xx that says why, an accepted
inbound message stored exactly once (a replayed delivery adds nothing), and the outcome the
product records: a refused media link is noted on the message, a long text is kept in full.
"""

from __future__ import annotations

import io
import uuid
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote_plus

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlmodel import Session, col, func, select
from twilio.request_validator import RequestValidator

from app import API_PREFIX, app
from channels.twilio_client import TWILIO_MEDIA_HOSTS
from domain.auth.enums import Role
from domain.voice import service as voice_service
from domain.voice.enums import CallPurpose
from domain.voice.models import Call, CallTranscript
from domain.whatsapp.models import Message, UnlinkedMessage
from store.outbox import OutboxEvent
from tests.factories import make_org, make_user, override_settings
from tests.voice.helpers import World, call_params
from workers.queues import get_queue

TOKEN = "signed-fuzz-twilio-token"
PUBLIC = "https://dealdesk.example.com"
PHONE = "+13135550100"
STRANGER = "+13135550177"
LONG = "x" * 100_000
CALL_SID = "CA" + "1" * 32
OTHER_CALL_SID = "CA" + "2" * 32
ACCOUNT = "AC" + "3" * 32

WHATSAPP = f"{API_PREFIX}/webhook/whatsapp"
ANSWER = f"{API_PREFIX}/webhook/voice/{{callId}}/answer"
GATHER = f"{API_PREFIX}/webhook/voice/{{callId}}/gather"
STATUS = f"{API_PREFIX}/webhook/voice/{{callId}}/status"
RECORDING = f"{API_PREFIX}/webhook/voice/{{callId}}/recording"

FOREIGN_URLS = {
    "the cloud metadata address": "http://169.254.169.254/latest/meta-data/iam/",
    "another domain": "https://evil.example/photo.jpg",
    "a Twilio-looking domain": "https://api.twilio.com.evil.example/2010-04-01/Media/ME1",
    "Twilio as userinfo": "https://api.twilio.com@evil.example/photo.jpg",
    "a local file": "file:///etc/passwd",
}
TWILIO_MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1"
TWILIO_RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE1"


def _jpeg() -> bytes:
    """A tiny real JPEG (what Twilio serves for a photo)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _wav() -> bytes:
    """Half a second of 8 kHz mono silence (what Twilio serves for a recording)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 4000)
    return buffer.getvalue()


# --- requests --------------------------------------------------------------------------------


class Answer(Protocol):
    """What a case reads of a response (the test client's, whichever httpx it uses)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def text(self) -> str:
        """The body as text."""

    def json(self) -> Any:
        """The body as JSON."""


@dataclass(frozen=True)
class Signed:
    """One signed post: a path (with query), the form as the app will read it, and the body."""

    path: str
    params: dict[str, str]
    body: bytes | None = None  # raw form text, for bytes a str cannot carry (invalid UTF-8)

    @classmethod
    def raw(cls, path: str, pairs: list[tuple[str, str]]) -> Signed:
        """A form written out by hand (values already percent-encoded), signed as decoded."""
        body = "&".join(f"{quote_plus(k)}={v}" for k, v in pairs)
        decoded = dict(parse_qsl(body, keep_blank_values=True, errors="replace"))
        return cls(path, decoded, body.encode("ascii"))

    def post(self, client: TestClient) -> Answer:
        """Post it as Twilio would: signed over the public URL it called."""
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + self.path, self.params)
        headers = {"X-Twilio-Signature": signature}
        if self.body is None:
            return client.post(self.path, data=self.params, headers=headers)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return client.post(self.path, content=self.body, headers=headers)


@dataclass
class Context:
    """The world a case runs in: committed rows, the client, the outbound HTTP guard."""

    db: Session
    client: TestClient
    redis: Redis
    org_id: uuid.UUID
    world: World | None = None
    call_id: uuid.UUID | None = None
    job_errors: list[str] = field(default_factory=list)
    sent: list[Signed] = field(default_factory=list)

    def path(self, template: str, *, call_id: object = None, query: str = "") -> str:
        """A webhook path for this context's call (or the one given)."""
        path = template.replace("{callId}", str(call_id or self.call_id))
        return f"{path}?{query}" if query else path

    def work(self) -> None:
        """Run the jobs the webhooks enqueued on the default queue; note every job failure."""

        def record(job: Any, exc_type: type, exc: BaseException, tb: Any) -> bool:
            self.job_errors.append(f"{job.func_name}: {exc_type.__name__}: {exc}")
            return True

        worker = SimpleWorker(
            [get_queue("default")],
            connection=self.redis,
            serializer=JSONSerializer,
            exception_handlers=[record],
        )
        worker.work(burst=True)

    def call(self) -> Call:
        """The case's call, read afresh."""
        self.db.expire_all()
        call = self.db.get(Call, self.call_id)
        assert call is not None
        return call

    def transcripts(self) -> list[CallTranscript]:
        """The call's turns, in order."""
        self.db.expire_all()
        return list(
            self.db.exec(
                select(CallTranscript)
                .where(CallTranscript.call_id == self.call_id)
                .order_by(col(CallTranscript.turn))
            ).all()
        )

    def answer(self, call_sid: str = CALL_SID) -> None:
        """The call was answered by a person: the greeting is turn 0, the CallSid is bound."""
        response = Signed(self.path(ANSWER), call_params(call_sid)).post(self.client)
        assert response.status_code == 200, response.text


Check = Callable[[Context, list[Answer]], None]


@dataclass(frozen=True)
class Case:
    """A hostile request (or a few, in order) to one route, and what must come of it."""

    route: str
    name: str
    build: Callable[[Context], list[Signed]]
    statuses: frozenset[int]
    check: Check | None = None
    setup: Callable[[Context], None] | None = None

    @property
    def id(self) -> str:
        """``route-name``, the test id."""
        return f"{self.route.rsplit('/', 1)[-1]}: {self.name}"


def _case(
    route: str,
    name: str,
    build: Callable[[Context], list[Signed]],
    *statuses: int,
    check: Check | None = None,
    setup: Callable[[Context], None] | None = None,
) -> Case:
    return Case(route, name, build, frozenset(statuses), check, setup)


# --- WhatsApp ----------------------------------------------------------------------------------


def wa_form(**changes: str | None) -> dict[str, str]:
    """Twilio's WhatsApp fields with changes (None drops a field)."""
    base: dict[str, str | None] = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT,
        "From": f"whatsapp:{PHONE}",
        "To": "whatsapp:+14155238886",
        "Body": "hello",
        "NumMedia": "0",
        **changes,
    }
    return {k: v for k, v in base.items() if v is not None}


def wa(**changes: str | None) -> Callable[[Context], list[Signed]]:
    """Build: one signed WhatsApp post, delivered twice (Twilio retries)."""

    def build(ctx: Context) -> list[Signed]:
        request = Signed(WHATSAPP, wa_form(**changes))
        return [request, request]

    return build


def wa_raw(pairs: list[tuple[str, str]]) -> Callable[[Context], list[Signed]]:
    """Build: one hand-written (percent-encoded) WhatsApp form, delivered twice."""

    def build(ctx: Context) -> list[Signed]:
        base = {k: quote_plus(v) for k, v in wa_form().items()}
        request = Signed.raw(WHATSAPP, list((base | dict(pairs)).items()))
        return [request, request]

    return build


def _rows(ctx: Context, sid: str) -> tuple[list[Message], list[UnlinkedMessage]]:
    ctx.db.expire_all()
    linked = list(ctx.db.exec(select(Message).where(Message.message_sid == sid)).all())
    unlinked = list(
        ctx.db.exec(select(UnlinkedMessage).where(UnlinkedMessage.message_sid == sid)).all()
    )
    return linked, unlinked


def _sid(ctx: Context) -> str:
    """The MessageSid the case posted first."""
    return ctx.sent[0].params.get("MessageSid", "")


def wa_refused(ctx: Context, responses: list[Answer]) -> None:
    """A refused post stores nothing."""
    sid = _sid(ctx)
    if sid:
        assert _rows(ctx, sid) == ([], []), "a refused post left a row behind"


def wa_stored(
    *, content: str | None = None, media: int | None = None, unlinked: bool = False
) -> Check:
    """The message is stored once (after the replay), processed, with what it carried."""

    def check(ctx: Context, responses: list[Answer]) -> None:
        linked_rows, unlinked_rows = _rows(ctx, _sid(ctx))
        if unlinked:
            assert (len(linked_rows), len(unlinked_rows)) == (0, 1), "stored once, unlinked"
            row: Message | UnlinkedMessage = unlinked_rows[0]
            assert unlinked_rows[0].reply_status in ("recorded", "suppressed")
        else:
            assert (len(linked_rows), len(unlinked_rows)) == (1, 0), "stored exactly once"
            message = linked_rows[0]
            row = message
            assert message.status == "processed", (message.status, message.error)
            if media is not None:
                assert len(message.media) == media, message.media
        if content is not None:
            assert row.content == content, "the text is kept as sent (NUL made visible)"

    return check


def wa_media_refused(ctx: Context, responses: list[Answer]) -> None:
    """The foreign media link is noted as refused on the message, and the investor is told."""
    wa_stored(media=1)(ctx, responses)
    (message,), _ = _rows(ctx, _sid(ctx))
    item = message.media[0]
    assert item.get("refused") is True, item
    assert "Twilio" in str(item.get("error")), item
    notes = ctx.db.exec(select(Message).where(Message.reply_to_id == message.id)).all()
    assert any("did not open" in (n.content or "") for n in notes), [n.content for n in notes]


def wa_media_stored(ctx: Context, responses: list[Answer]) -> None:
    """A photo on Twilio's host is fetched and kept as a document."""
    wa_stored(media=1)(ctx, responses)
    (message,), _ = _rows(ctx, _sid(ctx))
    assert message.media[0].get("document_id"), message.media


def wa_unusable_type(ctx: Context, responses: list[Answer]) -> None:
    """A garbage content type is not fetched; the investor hears the file was not usable."""
    wa_stored(media=1)(ctx, responses)
    (message,), _ = _rows(ctx, _sid(ctx))
    assert not message.media[0].get("document_id")
    notes = ctx.db.exec(select(Message).where(Message.reply_to_id == message.id)).all()
    assert any("can't use" in (n.content or "") for n in notes), [n.content for n in notes]


def wa_first_delivery_wins(ctx: Context, responses: list[Answer]) -> None:
    """A replayed MessageSid with other text keeps the first delivery, once."""
    linked_rows, _ = _rows(ctx, _sid(ctx))
    assert [m.content for m in linked_rows] == ["the first text"]


def wa_replay_other_body(ctx: Context) -> list[Signed]:
    first = wa_form(Body="the first text")
    return [Signed(WHATSAPP, first), Signed(WHATSAPP, first | {"Body": "a different text"})]


WHATSAPP_CASES = [
    _case(WHATSAPP, "no form at all", lambda ctx: [Signed(WHATSAPP, {})], 400),
    _case(WHATSAPP, "no MessageSid", wa(MessageSid=None), 400, check=wa_refused),
    _case(WHATSAPP, "no From", wa(From=None), 400, check=wa_refused),
    _case(
        WHATSAPP,
        "every field empty",
        lambda ctx: [Signed(WHATSAPP, dict.fromkeys(wa_form(), ""))],
        400,
    ),
    _case(WHATSAPP, "MessageSid is SQL", wa(MessageSid="SM' OR 1=1 --"), 400),
    _case(WHATSAPP, "From not a phone number", wa(From="whatsapp:not-a-number"), 400),
    _case(WHATSAPP, "From is 100,000 characters", wa(From=LONG), 400, check=wa_refused),
    _case(WHATSAPP, "From with a NUL byte", wa(From=f"whatsapp:{PHONE}\x00"), 400),
    _case(WHATSAPP, "To not a phone number", wa(To="whatsapp:🏠"), 200, check=wa_stored()),
    _case(WHATSAPP, "Body empty", wa(Body=""), 200, check=wa_stored(content="")),
    _case(WHATSAPP, "Body missing", wa(Body=None), 200, check=wa_stored(content="")),
    _case(WHATSAPP, "Body 100,000 characters", wa(Body=LONG), 200, check=wa_stored(content=LONG)),
    _case(
        WHATSAPP,
        "Body with NUL bytes",
        wa(Body="12\x0034 Elm\x00"),
        200,
        check=wa_stored(content="12\ufffd34 Elm\ufffd"),
    ),
    _case(
        WHATSAPP,
        "Body with NUL bytes from an unknown number",
        wa(Body="hi\x00", From=f"whatsapp:{STRANGER}"),
        200,
        check=wa_stored(content="hi\ufffd", unlinked=True),
    ),
    _case(
        WHATSAPP,
        "a field name with a NUL byte",
        lambda ctx: [Signed(WHATSAPP, wa_form() | {"X\x00": "y"})] * 2,
        200,
        check=wa_stored(content="hello"),
    ),
    _case(
        WHATSAPP,
        "Body invalid UTF-8 (a surrogate, a stray byte)",
        wa_raw([("Body", "%ED%A0%80 and %FF%FE")]),
        200,
        check=wa_stored(content="\ufffd\ufffd\ufffd and \ufffd\ufffd"),
    ),
    _case(WHATSAPP, "NumMedia=abc", wa(NumMedia="abc"), 400, check=wa_refused),
    _case(
        WHATSAPP,
        "NumMedia=-1 with a MediaUrl0",
        wa(NumMedia="-1", MediaUrl0=TWILIO_MEDIA, MediaContentType0="image/jpeg"),
        200,
        check=wa_stored(media=0),
    ),
    _case(
        WHATSAPP,
        "NumMedia=999 with one photo on Twilio",
        wa(NumMedia="999", MediaUrl0=TWILIO_MEDIA, MediaContentType0="image/jpeg"),
        200,
        check=wa_media_stored,
    ),
    _case(
        WHATSAPP,
        "NumMedia=1 and no MediaUrl0",
        wa(NumMedia="1"),
        200,
        check=wa_stored(media=0),
    ),
    *[
        _case(
            WHATSAPP,
            f"MediaUrl0 on {label}",
            wa(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"),
            200,
            check=wa_media_refused,
        )
        for label, url in FOREIGN_URLS.items()
    ],
    _case(
        WHATSAPP,
        "MediaContentType0 garbage",
        wa(NumMedia="1", MediaUrl0=TWILIO_MEDIA, MediaContentType0="../../x;;\x00<script>"),
        200,
        check=wa_unusable_type,
    ),
    _case(
        WHATSAPP,
        "MediaContentType0 100,000 characters",
        wa(NumMedia="1", MediaUrl0=TWILIO_MEDIA, MediaContentType0=LONG),
        200,
        check=wa_unusable_type,
    ),
    _case(
        WHATSAPP,
        "replayed MessageSid with another Body",
        wa_replay_other_body,
        200,
        check=wa_first_delivery_wins,
    ),
]


# --- voice -------------------------------------------------------------------------------------


def voice(
    template: str,
    *,
    call_sid: str | None = CALL_SID,
    call_id: object = None,
    query: str = "",
    times: int = 1,
    **extra: str,
) -> Callable[[Context], list[Signed]]:
    """Build: a signed voice webhook (``times`` deliveries) with Twilio's common fields."""

    def build(ctx: Context) -> list[Signed]:
        params = call_params(call_sid or "", **extra)
        if call_sid is None:
            params.pop("CallSid")
        return [Signed(ctx.path(template, call_id=call_id, query=query), params)] * times

    return build


def voice_raw(template: str, pairs: list[tuple[str, str]], query: str = "") -> Any:
    """Build: a hand-written (percent-encoded) voice form."""

    def build(ctx: Context) -> list[Signed]:
        base = {k: quote_plus(v) for k, v in call_params(CALL_SID).items()}
        return [Signed.raw(ctx.path(template, query=query), list((base | dict(pairs)).items()))]

    return build


def answered(ctx: Context) -> None:
    """Setup: the call was answered (turn 0 said, CallSid bound)."""
    ctx.answer()


def nothing_written(ctx: Context, responses: list[Answer]) -> None:
    """A refused webhook leaves the call as it was."""
    call = ctx.call()
    assert call.call_sid in (None, CALL_SID)
    assert len(ctx.transcripts()) <= 1


def greeted(ctx: Context, responses: list[Answer]) -> None:
    """The greeting is said once, and replays say it again."""
    assert [t.turn for t in ctx.transcripts()] == [0]
    assert all("<Gather" in r.text or "<Say" in r.text for r in responses)
    assert len({r.text for r in responses}) == 1


def heard(text: str | None = None, confidence: Decimal | None = None) -> Check:
    """Turn 1 (the contractor's words) and turn 2 (the reply) are stored once."""

    def check(ctx: Context, responses: list[Answer]) -> None:
        turns = ctx.transcripts()
        assert [t.turn for t in turns] == [0, 1, 2]
        if text is not None:
            assert turns[1].text == text
        assert turns[1].confidence == confidence
        assert len({r.text for r in responses}) == 1, "a replay says the same reply"

    return check


def status_kept(duration: int | None, status: str = "completed") -> Check:
    """The status is applied and the call finished once (one call.completed event)."""

    def check(ctx: Context, responses: list[Answer]) -> None:
        call = ctx.call()
        assert call.status == status
        assert (call.outcome_data or {}).get("duration_s") == duration
        events = ctx.db.exec(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.name == "call.completed")
        ).one()
        assert events == 1

    return check


def recording_not_noted(ctx: Context, responses: list[Answer]) -> None:
    """No recording noted (so no job fetches one)."""
    assert "recording" not in (ctx.call().outcome_data or {})
    refused = [r for r in responses if r.status_code == 400]
    assert all("RecordingUrl refused" in r.text for r in refused), [r.text for r in refused]


def recording_noted(duration: int | None) -> Check:
    """The recording is noted once; the job fetched it from Twilio and stored it (or said why)."""

    def check(ctx: Context, responses: list[Answer]) -> None:
        call = ctx.call()
        recording = (call.outcome_data or {}).get("recording") or {}
        assert recording.get("sid") == "RE" + "9" * 32
        assert recording.get("duration_s") == duration
        assert call.recording_document_id is not None or recording.get("error"), recording

    return check


ANSWER_CASES = [
    _case(ANSWER, "no form at all", lambda ctx: [Signed(ctx.path(ANSWER), {})], 403),
    _case(ANSWER, "no CallSid", voice(ANSWER, call_sid=None), 403, check=nothing_written),
    _case(ANSWER, "CallSid empty", voice(ANSWER, call_sid=""), 403, check=nothing_written),
    _case(ANSWER, "CallSid not Twilio's", voice(ANSWER, call_sid="XX123"), 403),
    _case(ANSWER, "CallSid 100,000 characters", voice(ANSWER, call_sid="CA" + LONG), 403),
    _case(ANSWER, "an unknown call id", voice(ANSWER, call_id=uuid.uuid4()), 404),
    _case(ANSWER, "a call id that is not a UUID", voice(ANSWER, call_id="x'--"), 422),
    _case(
        ANSWER,
        "another call's CallSid",
        voice(ANSWER, call_sid=OTHER_CALL_SID),
        403,
        setup=answered,
        check=nothing_written,
    ),
    _case(ANSWER, "AnsweredBy 100,000 characters", voice(ANSWER, AnsweredBy=LONG), 200),
    _case(ANSWER, "AnsweredBy with a NUL byte", voice(ANSWER, AnsweredBy="hu\x00man"), 200),
    _case(
        ANSWER,
        "From/To not phone numbers",
        voice(ANSWER, From="'; DROP TABLE calls; --", To="\x00", times=2),
        200,
        check=greeted,
    ),
]

GATHER_CASES = [
    _case(GATHER, "no turn", voice(GATHER, SpeechResult="yes"), 422, setup=answered),
    _case(
        GATHER, "turn=abc", voice(GATHER, query="turn=abc", SpeechResult="yes"), 422, setup=answered
    ),
    _case(GATHER, "turn=0", voice(GATHER, query="turn=0", SpeechResult="yes"), 422, setup=answered),
    _case(
        GATHER,
        "a turn never asked",
        voice(GATHER, query="turn=5", SpeechResult="yes"),
        409,
        setup=answered,
        check=nothing_written,
    ),
    _case(
        GATHER,
        "before the call was answered",
        voice(GATHER, query="turn=1", SpeechResult="yes"),
        409,
        check=nothing_written,
    ),
    _case(
        GATHER,
        "another call's CallSid",
        voice(GATHER, call_sid=OTHER_CALL_SID, query="turn=1", SpeechResult="yes"),
        403,
        setup=answered,
        check=nothing_written,
    ),
    _case(
        GATHER,
        "an unknown call id",
        voice(GATHER, call_id=uuid.uuid4(), query="turn=1", SpeechResult="yes"),
        404,
    ),
    _case(
        GATHER,
        "SpeechResult 100,000 characters",
        voice(GATHER, query="turn=1", SpeechResult=LONG, times=2),
        200,
        setup=answered,
        check=heard("x" * 2000),
    ),
    _case(
        GATHER,
        "SpeechResult missing",
        voice(GATHER, query="turn=1", times=2),
        200,
        setup=answered,
        check=heard(""),
    ),
    _case(
        GATHER,
        "SpeechResult with NUL bytes",
        voice(GATHER, query="turn=1", SpeechResult="eleven\x00thousand", times=2),
        200,
        setup=answered,
        check=heard("eleven\ufffdthousand"),
    ),
    _case(
        GATHER,
        "SpeechResult invalid UTF-8",
        voice_raw(GATHER, [("SpeechResult", "roof%ED%A0%80%FF")], query="turn=1"),
        200,
        setup=answered,
        check=heard("roof\ufffd\ufffd\ufffd\ufffd"),
    ),
    *[
        _case(
            GATHER,
            f"Confidence={value}",
            voice(GATHER, query="turn=1", SpeechResult="yes", Confidence=value, times=2),
            200,
            setup=answered,
            check=heard("yes", None),
        )
        for value in ("NaN", "-Infinity", "-1", "1e999999", "abc", "")
    ],
    _case(
        GATHER,
        "Confidence=0.874 (kept, rounded)",
        voice(GATHER, query="turn=1", SpeechResult="yes", Confidence="0.874"),
        200,
        setup=answered,
        check=heard("yes", Decimal("0.87")),
    ),
]

STATUS_CASES = [
    _case(STATUS, "no CallStatus", voice(STATUS), 400, setup=answered),
    _case(STATUS, "CallStatus garbage", voice(STATUS, CallStatus="exploded\x00"), 400),
    _case(STATUS, "an unknown call id", voice(STATUS, call_id=uuid.uuid4()), 404),
    _case(
        STATUS,
        "another call's CallSid",
        voice(STATUS, call_sid=OTHER_CALL_SID, CallStatus="completed"),
        403,
        setup=answered,
        check=nothing_written,
    ),
    *[
        _case(
            STATUS,
            f"CallDuration={label}",
            voice(STATUS, CallStatus="completed", CallDuration=value, times=2),
            200,
            setup=answered,
            check=status_kept(None),
        )
        for label, value in {
            "a superscript digit": "²",
            "5,000 digits": "9" * 5000,
            "-5": "-5",
            "abc": "abc",
            "NaN": "NaN",
        }.items()
    ],
    _case(
        STATUS,
        "CallDuration=42, delivered twice",
        voice(STATUS, CallStatus="completed", CallDuration="42", times=2),
        200,
        setup=answered,
        check=status_kept(42),
    ),
    _case(
        STATUS,
        "AnsweredBy with a NUL byte",
        voice(STATUS, CallStatus="completed", AnsweredBy="\x00machine"),
        200,
        setup=answered,
        check=status_kept(None),
    ),
]


def recording(**extra: str) -> Callable[[Context], list[Signed]]:
    """Build: a completed recording callback, delivered twice."""
    values = {
        "RecordingSid": "RE" + "9" * 32,
        "RecordingUrl": TWILIO_RECORDING,
        "RecordingStatus": "completed",
        "RecordingDuration": "11",
    } | extra
    return voice(RECORDING, times=2, **{k: v for k, v in values.items() if v != "<drop>"})


RECORDING_CASES = [
    *[
        _case(
            RECORDING,
            f"RecordingUrl on {label}",
            recording(RecordingUrl=url),
            400,
            setup=answered,
            check=recording_not_noted,
        )
        for label, url in FOREIGN_URLS.items()
    ],
    _case(
        RECORDING,
        "RecordingUrl on Twilio, delivered twice",
        recording(),
        200,
        setup=answered,
        check=recording_noted(11),
    ),
    *[
        _case(
            RECORDING,
            f"RecordingDuration={label}",
            recording(RecordingDuration=value),
            200,
            setup=answered,
            check=recording_noted(None),
        )
        for label, value in {"a superscript digit": "²", "5,000 digits": "9" * 5000}.items()
    ],
    _case(
        RECORDING,
        "no RecordingSid",
        recording(RecordingSid="<drop>"),
        200,
        setup=answered,
        check=recording_not_noted,
    ),
    _case(
        RECORDING,
        "RecordingStatus=failed, on a foreign host",
        recording(RecordingStatus="failed", RecordingUrl=FOREIGN_URLS["another domain"]),
        200,
        setup=answered,
        check=recording_not_noted,
    ),
    _case(
        RECORDING,
        "another call's CallSid",
        voice(
            RECORDING, call_sid=OTHER_CALL_SID, RecordingSid="RE1", RecordingUrl=TWILIO_RECORDING
        ),
        403,
        setup=answered,
        check=recording_not_noted,
    ),
    _case(RECORDING, "an unknown call id", voice(RECORDING, call_id=uuid.uuid4()), 404),
]

CASES = WHATSAPP_CASES + ANSWER_CASES + GATHER_CASES + STATUS_CASES + RECORDING_CASES


# --- fixtures and tests ------------------------------------------------------------------------


@pytest.fixture
def fuzz_client(
    committed_db: Session, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The app with a real webhook token; a server error is a 500, not an exception.

    Requests commit for real (the enqueued jobs open their own sessions and must see what the
    webhook stored); tables are truncated after the test. No Twilio account is configured, so
    replies go to the outbox and media are fetched without credentials (from respx).
    """
    override_settings(
        monkeypatch,
        rate_limit_per_minute=0,
        rate_limit_ip_per_minute=0,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_account_sid=None,
        public_base_url=PUBLIC,
        voice_callback_number="+13135550199",
    )
    redis.flushdb()
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _context(db: Session, client: TestClient, redis: Redis, route: str) -> Context:
    org = make_org(db)
    make_user(db, org, role=Role.investor, phone_number=PHONE)
    db.commit()
    ctx = Context(db=db, client=client, redis=redis, org_id=org.id)
    if route != WHATSAPP:
        world = World(db)
        request = voice_service.request_call(
            session=db,
            org_id=world.org.id,
            contractor_id=world.contractor.id,
            project_id=world.project.id,
            purpose=CallPurpose.bid_request,
            ignore_hours=True,
        )
        assert request.call is not None
        db.commit()
        ctx.world, ctx.call_id = world, request.call.id
    return ctx


def _says_why(response: Answer) -> bool:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return bool(detail)


def test_every_twilio_webhook_route_is_swept() -> None:
    """A webhook route the sweep does not cover fails here (and each route has real cases)."""
    served = {
        path
        for path, item in app.openapi()["paths"].items()
        if path.startswith(f"{API_PREFIX}/webhook/")
        for method in item
        if method == "post"
    }
    swept = {case.route for case in CASES}
    assert served == swept, f"not swept: {sorted(served - swept)}; gone: {sorted(swept - served)}"
    for route in served:
        assert sum(case.route == route for case in CASES) >= 7, route


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_signed_hostile_webhook_never_gets_a_5xx_or_fetches_off_twilio(
    case: Case, committed_db: Session, redis: Redis, fuzz_client: TestClient
) -> None:
    """2xx/4xx (with a detail), no outbound HTTP but Twilio's media, jobs clean, stored once."""
    ctx = _context(committed_db, fuzz_client, redis, case.route)
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as http:
        media = [
            http.get(host=host).mock(
                side_effect=lambda request: httpx.Response(
                    200,
                    content=_wav() if "/Recordings/" in request.url.path else _jpeg(),
                    headers={
                        "content-type": "audio/x-wav"
                        if "/Recordings/" in request.url.path
                        else "image/jpeg"
                    },
                )
            )
            for host in sorted(TWILIO_MEDIA_HOSTS)
        ]
        elsewhere = http.route().mock(side_effect=httpx.ConnectError("not Twilio: never sent"))
        if case.setup is not None:
            case.setup(ctx)
        ctx.sent = case.build(ctx)
        responses = [request.post(fuzz_client) for request in ctx.sent]
        ctx.work()
    problems = [
        f"{r.status_code}: {r.text[:300]}"
        for r in responses
        if r.status_code not in case.statuses or (400 <= r.status_code < 500 and not _says_why(r))
    ]
    assert not problems, f"expected {sorted(case.statuses)}: {problems}"
    assert not elsewhere.called, [str(c.request.url)[:200] for c in elsewhere.calls]
    assert not ctx.job_errors, ctx.job_errors
    assert all(route.call_count <= 1 for route in media), "media fetched more than once"
    if case.check is not None:
        case.check(ctx, responses)
