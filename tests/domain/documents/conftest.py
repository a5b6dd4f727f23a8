"""Sample files in the formats dealdesk accepts, built in code (no binary fixtures)."""

from __future__ import annotations

import io
import struct
import wave
import zlib

import pytest


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """A valid PNG of grey pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(size: int = 2048) -> bytes:
    """A JPEG/JFIF header padded to ``size`` bytes (sniffing reads the header only)."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + b"\x00" * (size - len(head) - 2) + b"\xff\xd9"


def wav_bytes(seconds: float = 0.1) -> bytes:
    """A real 8 kHz mono WAV of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


def ogg_bytes(size: int = 4096) -> bytes:
    """An Ogg page header with an Opus head, padded to ``size`` bytes."""
    head = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x01"
    return head + b"\x00" * (size - len(head))


def m4a_bytes() -> bytes:
    """An MP4 ``ftyp`` box with the M4A brand (an iPhone voice memo's start)."""
    return struct.pack(">I", 24) + b"ftypM4A \x00\x00\x00\x00M4A isom" + b"\x00" * 512


def mp3_bytes() -> bytes:
    """An ID3-tagged MP3 start."""
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"\x00" * 512


def pdf_bytes() -> bytes:
    """A minimal one-page PDF."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


SAMPLES = {
    "png": png_bytes(),
    "jpeg": jpeg_bytes(),
    "wav": wav_bytes(),
    "ogg": ogg_bytes(),
    "m4a": m4a_bytes(),
    "mp3": mp3_bytes(),
    "pdf": pdf_bytes(),
    "csv": b"address,price\n123 Main St,85000\n",
    "exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64,
}


@pytest.fixture
def samples() -> dict[str, bytes]:
    """Sample file contents by format name."""
    return dict(SAMPLES)
