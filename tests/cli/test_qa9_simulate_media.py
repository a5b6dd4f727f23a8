"""``dealdesk simulate whatsapp --media-url``: the media's type follows its extension.

Was: every attachment was sent as ``image/jpeg``, so a simulated voice note (``.ogg``) was
answered "Sorry, I could not download your photo" and voice notes could not be tried.
"""

from __future__ import annotations

import pytest

from cli.whatsapp_commands import media_type_of, simulated_params


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8000/files/note.ogg", "audio/ogg"),
        ("http://127.0.0.1:8000/files/note.OPUS?sig=abc", "audio/ogg"),
        ("http://127.0.0.1:8000/files/note.mp3", "audio/mpeg"),
        ("http://127.0.0.1:8000/files/roof.jpg", "image/jpeg"),
        ("http://127.0.0.1:8000/files/roof.png", "image/png"),
        ("http://127.0.0.1:8000/files/scan.pdf", "application/pdf"),
        ("http://127.0.0.1:8000/files/photo", "image/jpeg"),
    ],
)
def test_the_media_type_follows_the_extension(url: str, kind: str) -> None:
    assert media_type_of(url) == kind


def test_each_attachment_gets_its_own_type() -> None:
    params = simulated_params(
        phone="+13135550100", text="", media_urls=["http://h/a.ogg", "http://h/b.jpg"]
    )
    assert (params["MediaContentType0"], params["MediaContentType1"]) == ("audio/ogg", "image/jpeg")
    assert params["NumMedia"] == "2"
