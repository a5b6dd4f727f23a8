"""Real speech for tests and the benchmark: walkthrough narrations spoken by ``espeak-ng``.

espeak-ng is the Debian package ``espeak-ng`` (the Makefile installs it in CI). Its voice is
robotic but it is real speech that Whisper has to listen to; nothing here is a recording of a
person.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

# A short walkthrough (about 15 s spoken) and the figures a listener should take from it.
SHORT_WALKTHROUGH = (
    "The roof is shot and needs replacing. "
    "The furnace is about five years old and in good shape. "
    "There are twelve windows, all original and drafty. "
    "The kitchen cabinets are worn. "
    "The water heater is leaking."
)

# About a minute spoken at espeak-ng's default rate (the benchmark's recording).
MINUTE_WALKTHROUGH = (
    "Okay, this is the walkthrough for the house on Kercheval. "
    "Starting outside. The roof is shot and needs replacing, I'd say about twenty squares. "
    "The gutters are falling apart on the back side. The siding is in good shape. "
    "Coming in the front door. The living room has hardwood floors that need refinishing. "
    "There are twelve windows, all original and drafty. "
    "The kitchen cabinets are worn and the countertops are cracked. "
    "The appliances are brand new. "
    "Down in the basement, the furnace is about five years old and in good shape. "
    "The water heater is leaking and has to be replaced. "
    "The electrical panel is an old fuse box, so that needs replacing too. "
    "The foundation looks solid, no cracks. "
    "Upstairs, the bathroom tile is cracked and the vanity is fine. "
    "The toilet does not work. "
    "The carpet in the three bedrooms is stained and worn. "
    "The whole place needs paint. That's it for this one."
)


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is on the PATH."""
    return shutil.which("espeak-ng") is not None


def speak(text: str, *, words_per_minute: int = 165) -> bytes:
    """``text`` spoken by espeak-ng, as WAV bytes (22.05 kHz mono)."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise RuntimeError("espeak-ng is not installed (Debian package: espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="dd-espeak-") as folder:
        out = Path(folder) / "speech.wav"
        subprocess.run(
            [program, "-s", str(words_per_minute), "-w", str(out), text],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return out.read_bytes()


def wav_seconds(data: bytes) -> float:
    """The length of WAV bytes in seconds."""
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def silence_wav(seconds: float, *, rate: int = 16000) -> bytes:
    """A WAV of digital silence (16-bit mono)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


def to_ogg_opus(wav_bytes: bytes, *, bitrate: int = 32000) -> bytes:
    """Re-encode WAV bytes as OGG/Opus at 48 kHz mono, the way WhatsApp sends voice notes."""
    import av

    source = av.open(io.BytesIO(wav_bytes), mode="r")
    out_buffer = io.BytesIO()
    output = av.open(out_buffer, mode="w", format="ogg")
    stream = output.add_stream("libopus", rate=48000, layout="mono")
    stream.bit_rate = bitrate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    for frame in source.decode(audio=0):
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                output.mux(packet)
    for resampled in resampler.resample(None):
        for packet in stream.encode(resampled):
            output.mux(packet)
    for packet in stream.encode(None):
        output.mux(packet)
    output.close()
    source.close()
    return out_buffer.getvalue()
