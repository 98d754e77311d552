"""Speech recognition for the simulator: pocketsphinx on a phrase grammar, or a byte counter."""

from __future__ import annotations

import asyncio
import atexit
import functools
import gzip
import hashlib
import json
import multiprocessing
import re
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .fixtures import load_fixtures
from .words import Word, text_of

_WORD = re.compile(r"[a-z']+")
CMN_START = "40.71,-3.90,-7.16,15.84,-10.24,0.75,-3.28,-17.01,0.72,-11.91,7.04,-4.71,-4.16"
"""Cepstral means measured on the bundled fixtures; every segment is decoded from these."""


class Recognizer(Protocol):
    """One utterance's recogniser: fed 16 kHz mono s16le audio, asked for words. Feeding and
    asking may wait for a decoder (in another process: `SharedDecoder`)."""

    async def feed(self, pcm: bytes) -> list[Word] | None:
        """Take the next audio frame; return a final's words when a pause in speech ends one."""

    async def partial(self) -> list[Word]:
        """Return the current best guess (for interims)."""

    def heard_ms(self) -> int:
        """How far in the stream the latest best guess had heard (ms)."""

    def caught_up(self) -> bool:
        """True once per pause in speech, as soon as the best guess covers the speech before
        it (then an interim is due at once, as a streaming decoder's hypothesis catches up)."""

    async def finish(self) -> list[Word]:
        """End the utterance and return the final words."""

    def close(self) -> None:
        """Release what the recogniser holds (safe to call twice, or after finish)."""


@dataclass(slots=True)
class ByteCounter:
    """The cheap mode: the final text reports how many audio bytes arrived (its words carry
    no usable times: every one spans the whole stream)."""

    received: int = 0

    async def feed(self, pcm: bytes) -> list[Word] | None:
        """Count the bytes (no pauses in this mode)."""
        self.received += len(pcm)
        return None

    def _words(self) -> list[Word]:
        length = self.received // 32
        return [Word(text, 0, length) for text in (str(self.received), "bytes")]

    async def partial(self) -> list[Word]:
        """Report the bytes so far."""
        return self._words()

    def heard_ms(self) -> int:
        """All of it."""
        return self.received // 32

    def caught_up(self) -> bool:
        """Never: this mode has no speech."""
        return False

    async def finish(self) -> list[Word]:
        """Report the exact byte total."""
        return self._words()

    def close(self) -> None:
        """Nothing to release."""


def build_grammar(phrases: Sequence[str]) -> str:
    """Return a JSGF grammar that accepts one of the phrases, or the start of one (what a
    speaker who pauses mid-command has said so far: a final at the pause decodes it)."""
    alternatives: list[str] = []
    for phrase in phrases:
        words = _WORD.findall(phrase.lower())
        for end in range(len(words), 0, -1):
            alternative = "( " + " ".join(words[:end]) + " )"
            if alternative not in alternatives:
                alternatives.append(alternative)
    if not alternatives:
        raise ValueError("the phrase list has no words")
    return "#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(alternatives) + ";\n"


@dataclass
class SharedDecoder:
    """The process's pocketsphinx decoding for one phrase list: a decoder on this thread, and
    what has been decoded.

    Building a decoder costs about 0.4 s of CPU with the GIL held, so building one per
    session made a burst of concurrent sessions wait seconds for CONFIGURED (a real service
    answers at once). Each segment is decoded in one batch from fixed cepstral means after the
    same `primer`, so a decode carries no state into the next and any decoder gives the same
    words. Without a pool, decodes run on the event loop's thread, one at a time: cheap and
    deterministic, for tests in one process. With a `DecoderPool`, each runs in one of its
    processes (pocketsphinx holds the GIL, so threads would not run two at once): the event
    loop keeps serving while a decode runs, and as many streams decode at once as the pool
    has processes.

    Since a decode is a function of its audio alone, its words are kept (`DECODES_KEPT`,
    the latest): the same audio decoded again, by another session or under another stream
    convention, costs a lookup instead of 50-150 ms of CPU; a decode in progress is shared.
    """

    phrases: Sequence[str]
    _decoder: Any = None
    _decoded: OrderedDict[bytes, tuple[Word, ...]] = field(default_factory=OrderedDict)
    """Words (times from the audio's start) by the digest of the audio decoded."""
    _recorded: dict[bytes, tuple[Word, ...]] | None = None
    """Decodes recorded with the bundled fixtures (RECORDED_DECODES), when they were made
    with this grammar: looked up before decoding (read at the first decode)."""
    _pending: dict[bytes, asyncio.Future[tuple[Word, ...]]] = field(default_factory=dict)
    """Decodes running in a pool, by the digest of their audio."""
    decodes: int = 0
    """Decodes run (lookups that found the audio are not counted)."""
    use_record: bool = True
    """Look up the recorded decodes (False: decode everything, to make the record)."""

    @functools.cached_property
    def grammar_digest(self) -> str:
        """What a decode's words depend on besides the audio: the grammar, the cepstral means
        and the primer."""
        h = hashlib.sha256(build_grammar(self.phrases).encode())
        h.update(CMN_START.encode())
        h.update(hashlib.sha256(primer()).digest())
        return h.hexdigest()

    def get(self) -> Any:
        """Return the decoder, building it on first use (blocking; `warm` does it early)."""
        if self._decoder is None:
            from pocketsphinx import Config, Decoder  # noqa: PLC0415 - optional extra

            config = Config()
            config["logfn"] = "/dev/null"
            decoder = Decoder(config)
            decoder.add_jsgf_string("commands", build_grammar(self.phrases))
            decoder.activate_search("commands")
            self._decoder = decoder
        return self._decoder

    def decode_here(self, pcm: bytes) -> tuple[Word, ...]:
        """Decode on this thread, with this process's decoder (no record)."""
        decoder = self.get()
        decode_once(decoder, primer())  # the same state before every decode
        hyp = decode_once(decoder, pcm)
        return tuple(timed_words(decoder, hyp, 0, len(pcm) // 32))

    async def decode(self, pcm: bytes, pool: DecoderPool | None = None) -> tuple[Word, ...]:
        """The words of 16 kHz s16le audio decoded in one batch, times from its start (in
        `pool`, if given)."""
        key = hashlib.blake2b(pcm, digest_size=20).digest()
        words = self._decoded.get(key)
        if words is not None:
            self._decoded.move_to_end(key)
            return words
        if self._recorded is None:
            self._recorded = recorded_decodes(self.grammar_digest) if self.use_record else {}
        words = self._recorded.get(key)
        if words is not None:
            return words
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if pool is None:
            words = self.decode_here(pcm)
        else:
            future = pool.submit(pcm)
            self._pending[key] = future
            try:
                words = await asyncio.shield(future)
            finally:
                del self._pending[key]
        self.decodes += 1
        self._decoded[key] = words
        if len(self._decoded) > DECODES_KEPT:
            self._decoded.popitem(last=False)
        return words

    @functools.cached_property
    def complete(self) -> frozenset[str]:
        """The phrases as the decoder spells them (lower case, words joined by one space)."""
        return frozenset(" ".join(_WORD.findall(p.lower())) for p in self.phrases)

    async def warm(self) -> None:
        """Build the decoder ahead of the first session, off the event loop."""
        await asyncio.to_thread(self.get)


class DecoderPool:
    """Decoder processes for one phrase list (see SharedDecoder); they end with the process."""

    def __init__(self, phrases: tuple[str, ...], workers: int) -> None:
        self.workers = workers
        self.running = 0
        """Decodes submitted and not done."""
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(phrases,),
        )
        atexit.register(self._pool.shutdown, wait=True, cancel_futures=True)

    def submit(self, pcm: bytes) -> asyncio.Future[tuple[Word, ...]]:
        """Decode in one of the processes."""
        future = asyncio.get_running_loop().run_in_executor(self._pool, _decode_in_worker, pcm)
        self.running += 1
        future.add_done_callback(self._done)
        return future

    def _done(self, _: asyncio.Future[tuple[Word, ...]]) -> None:
        self.running -= 1

    @property
    def busy(self) -> bool:
        """Every process has a decode (an interim's guess is then not worth one more)."""
        return self.running >= self.workers

    async def warm(self) -> None:
        """Wait until every process has built its decoder."""
        loop = asyncio.get_running_loop()
        ready = [loop.run_in_executor(self._pool, _ready) for _ in range(self.workers)]
        await asyncio.gather(*ready)


@functools.cache
def decoder_pool(phrases: tuple[str, ...], workers: int) -> DecoderPool:
    """The process's decoder processes for a phrase list (started once)."""
    return DecoderPool(phrases, workers)


_WORKER: SharedDecoder | None = None
"""A decoder process's own decoder."""


def _start_worker(phrases: tuple[str, ...]) -> None:
    global _WORKER  # noqa: PLW0603 - one decoder per worker process, built as it starts
    _WORKER = SharedDecoder(phrases)
    _WORKER.get()


def _ready() -> bool:
    return _WORKER is not None


def _decode_in_worker(pcm: bytes) -> tuple[Word, ...]:
    assert _WORKER is not None
    return _WORKER.decode_here(pcm)


RECORDED_DECODES = Path(__file__).parent / "fixtures" / "decodes.json.gz"
"""The decodes the bundled fixtures' audio asks for, as tests frame it, made once by
`python script/record_decodes.py` with the bundled phrases: every test process would
otherwise decode the same audio again (about a minute of CPU for the conventions matrix
alone). They are used only while the grammar is the one they were made with."""


def recorded_decodes(grammar: str) -> dict[bytes, tuple[Word, ...]]:
    """The recorded decodes made with this grammar (none if it differs, or no record)."""
    try:
        with gzip.open(RECORDED_DECODES, "rt", encoding="utf-8") as raw:
            data = json.load(raw)
    except (OSError, ValueError):
        return {}
    if data.get("grammar") != grammar:
        return {}
    return {
        bytes.fromhex(key): tuple(Word(w, int(start), int(end)) for w, start, end in words)
        for key, words in data["decodes"].items()
    }


def write_recorded_decodes(decoder: SharedDecoder) -> int:
    """Write every decode the decoder holds as the record; how many."""
    decodes = {
        key.hex(): [[w.text, w.start_ms, w.end_ms] for w in words]
        for key, words in sorted(decoder._decoded.items())
    }
    body = {"grammar": decoder.grammar_digest, "decodes": decodes}
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    RECORDED_DECODES.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return len(decodes)


DECODES_KEPT = 20000
"""Decodes whose words the shared decoder keeps (a few hundred bytes each)."""
LOUD_RMS = 300.0
"""RMS (of 32768) at or above which a 10 ms frame counts as speech."""
PEAK_RATIO = 12.0
"""...and at least the command's loudest frame so far over this (22 dB below it): a fan's or a
fridge's noise after the command is not read as more speech."""
PARTIAL_STEP_BYTES = 400 * 32
"""While speech goes on, an interim decodes the command up to the latest multiple of this
much of its audio (400 ms): a faster cadence repeats the latest guess, saying how far it had
heard (its endTimeMs), as a decoder that traces back more often than it has new results does.
Each decode here re-reads the whole command, so six live sessions at 250 ms interims cost
this single-threaded simulator more than a core; on the grid, the audio decoded is the same
whatever the interim cadence and however the audio was framed, so the shared decoder's
record of decodes serves every stream convention. In a pause (the decode's end no longer
grows) every interim is current."""
TAIL_BYTES = 80 * 32
"""What a decode reads after the last loud frame (50 ms): trailing silence beyond it is not
decoded, so a decode's result stops changing once the speaker pauses, and is reused."""


def frame_rms(pcm: bytes) -> npt.NDArray[np.float32]:
    """The RMS of each whole 10 ms frame of 16 kHz s16le audio."""
    usable = len(pcm) - len(pcm) % 320
    frames = np.frombuffer(pcm, "<i2", usable // 2).astype(np.float32).reshape(-1, 160)
    rms: npt.NDArray[np.float32] = np.sqrt(np.mean(frames * frames, axis=1))
    return rms


@dataclass(slots=True)
class PauseDetector:
    """Finds pauses in 16 kHz s16le speech by energy in 10 ms frames (as a streaming ASR
    endpoints a segment). pocketsphinx 5's own get_in_speech() no longer works."""

    pause_frames: int = 30
    """Silent frames after speech that make a pause (300 ms)."""
    _carry: bytes = b""
    _heard: bool = False
    _silent: int = 0

    def feed(self, pcm: bytes) -> int | None:
        """Take audio; if it completes a pause after speech, return how many of its bytes
        came up to the end of the frame that did (the rest is not taken: feed it again)."""
        carried = len(self._carry)
        data = self._carry + pcm
        usable = len(data) - len(data) % 320
        self._carry = data[usable:]
        for index, loud in enumerate(frame_rms(data[:usable]) >= LOUD_RMS):
            if loud:
                self._heard, self._silent = True, 0
            elif self._heard:
                self._silent += 1
                if self._silent >= self.pause_frames:
                    self._heard, self._silent = False, 0
                    self._carry = b""
                    return (index + 1) * 320 - carried
        return None


class SphinxRecognizer:
    """Real recognition with the shared pocketsphinx decoder; a pause in speech ends a
    segment (a final), as Truebar's streaming ASR does.

    Each segment is decoded in one batch (pocketsphinx's full-utterance mode) from fixed
    cepstral means: decoding incrementally made results depend on how the audio was framed,
    how much silence followed, and what the decoder had heard before. A decode reads the audio
    up to TAIL_BYTES after the last loud frame, and its result is kept: during a pause, and at
    EOS after one, the text is ready at once (a real streaming decoder has it by then too),
    instead of costing a fresh decode of the whole command (50-150 ms of CPU here).
    """

    def __init__(
        self,
        decoder: SharedDecoder,
        pause_ms: int = 500,
        max_ms: int = 20000,
        complete: frozenset[str] = frozenset(),
        lookahead_ms: int = 0,
        *,
        pool: DecoderPool | None = None,
        patient: bool = False,
    ) -> None:
        self._pool = pool
        self._patient = patient
        """An interim's guess waits for a busy pool (a rehearsal), instead of being skipped."""
        self._decoder: SharedDecoder | None = decoder
        """None once closed."""
        self._lookahead_ms = lookahead_ms
        self._complete = complete
        """Whole phrases: once the committed words make one, the next words start afresh."""
        self._pauses = PauseDetector(pause_frames=pause_ms // 10) if pause_ms > 0 else None
        self._max_bytes = max_ms * 32 if max_ms > 0 else None
        self._audio = bytearray()
        """The current command so far: every decode reads all of it (a phrase grammar can
        only place the words of a part after a pause by what came before)."""
        self._segment_bytes = 0
        self._committed = 0
        """Words already sent as finals."""
        self._scanned = 0
        """Bytes of the command's audio whose loudness is known."""
        self._loud_end: int | None = None
        """Where in the command's audio the last loud 10 ms frame ends."""
        self._pause_told = True
        self._peak = 0.0
        self._spoke = False
        """A command of this stream was loud: audio that never is, after one, is not speech."""
        self._decoded: tuple[int, list[Word]] = (0, [])
        """(audio bytes read, words) of the last decode of this command."""
        self._base_ms = 0
        """Where the current command's audio begins in the stream (ms): word times are the
        stream's, as Truebar's are."""
        self._heard = 0
        """Bytes of the command's audio the latest decode stands for."""

    def _listen(self) -> None:
        end = len(self._audio) - len(self._audio) % 320
        if end > self._scanned:
            rms = frame_rms(bytes(self._audio[self._scanned : end]))
            # Each frame against the loudest before it and itself: the same frames are loud
            # however the audio was cut into frames (live, flushed at pauses, or all at once).
            peaks = np.maximum.accumulate(np.maximum(rms, self._peak))
            self._peak = float(peaks[-1])
            loud = np.nonzero(rms >= np.maximum(LOUD_RMS, peaks / PEAK_RATIO))[0]
            if len(loud):
                self._loud_end = self._scanned + (int(loud[-1]) + 1) * 320
                self._pause_told = False
            self._scanned = end

    async def _decode(self, partial: bool = False) -> list[Word]:
        self._heard = len(self._audio)
        if self._decoder is None or not any(self._audio):
            return []
        if self._loud_end is None and self._spoke:
            return []  # the quiet after a whole command (its fading tail): not speech
        size = len(self._audio)  # nothing loud (quiet speech): all of it
        if self._loud_end is not None:
            size = min(size, self._loud_end + TAIL_BYTES)
        done = self._decoded[0]
        if done == size:
            return self._decoded[1]
        if partial and done and self._pool is not None and self._pool.busy and not self._patient:
            self._heard = done  # every decoder is busy: the latest guess stands, as a loaded
            return self._decoded[1]  # decoder's partials come less often
        if partial and size == len(self._audio):  # speech goes on: decode on the grid
            on_grid = size - size % PARTIAL_STEP_BYTES
            if on_grid <= done:
                self._heard = done
                return self._decoded[1]
            size = on_grid
        base = self._base_ms
        found = await self._decoder.decode(bytes(self._audio[:size]), self._pool)
        words = [Word(w.text, w.start_ms + base, w.end_ms + base, w.written) for w in found]
        self._decoded = (size, words)
        return words

    async def _commit(self) -> list[Word]:
        """The words of the utterance beyond those already final, now final too."""
        words = await self._decode()
        new = words[self._committed :]
        self._committed = max(self._committed, len(words))
        self._segment_bytes = 0
        if text_of(words) in self._complete:  # a whole command: the next one starts afresh
            self._spoke = self._spoke or self._loud_end is not None
            self._base_ms += len(self._audio) // 32
            self._audio.clear()
            self._committed, self._scanned, self._loud_end, self._peak = 0, 0, None, 0.0
            self._decoded = (0, [])
        return new

    async def feed(self, pcm: bytes) -> list[Word] | None:
        """Take the next frame; at a pause, return the segment's final words. The final is
        decoded at the frame that completed the pause, wherever the audio's frames were cut
        (the audio after it, in the same frame, is the next segment's)."""
        final: list[Word] | None = None
        while pcm:
            taken = self._pauses.feed(pcm) if self._pauses is not None else None
            head, pcm = (pcm, b"") if taken is None else (pcm[:taken], pcm[taken:])
            self._audio += head
            self._listen()
            self._segment_bytes += len(head)
            forced = self._max_bytes is not None and self._segment_bytes >= self._max_bytes
            if taken is not None or forced:
                final = [*(final or []), *await self._commit()]
        return final

    async def partial(self) -> list[Word]:
        """Return the current segment's best guess so far."""
        return (await self._decode(partial=True))[self._committed :]

    def heard_ms(self) -> int:
        """How far in the stream the latest guess had heard."""
        return self._base_ms + self._heard // 32

    def caught_up(self) -> bool:
        """True once TAIL_BYTES of silence followed the last loud frame (once per pause)."""
        if self._pause_told or self._loud_end is None:
            return False
        if len(self._audio) < self._loud_end + TAIL_BYTES:
            return False
        self._pause_told = True
        return True

    async def finish(self) -> list[Word]:
        """Decode what is left and give its words, less those too close to the end of the
        audio to be committed (see SimSettings.final_lookahead_ms)."""
        heard_to = self._base_ms + len(self._audio) // 32 - self._lookahead_ms
        words = [word for word in await self._commit() if word.end_ms <= heard_to]
        self.close()
        return words

    def close(self) -> None:
        """Let go of the shared decoder (safe to call twice)."""
        self._decoder = None
        self._audio.clear()


async def rehearse(
    decoder: SharedDecoder, pcm: bytes, pool: DecoderPool | None = None, pause_ms: int = 500
) -> int:
    """Decode what a live session of this audio may ask for (every interim's grid point,
    every pause, every final, at a 10 ms step), so that live sessions of the same audio find
    their decodes done; return how many decodes it took. Tests that must measure latency
    while many streams speak at once rehearse their audio first, as a real service has
    decoders to spare."""
    before = decoder.decodes
    recognizer = SphinxRecognizer(decoder, pause_ms, 0, decoder.complete, pool=pool, patient=True)
    for offset in range(0, len(pcm) - len(pcm) % 320, 320):
        await recognizer.feed(pcm[offset : offset + 320])
        await recognizer.partial()
    await recognizer.finish()
    return decoder.decodes - before


_ALTERNATE = re.compile(r"\(\d+\)$")


def timed_words(decoder: Any, hyp: Any, base_ms: int, length_ms: int) -> list[Word]:
    """The hypothesis' words with their times from the decoder's segmentation (10 ms frames),
    in stream time (`base_ms` is where the decoded audio began). Silence, fillers and sentence
    marks are left out, alternate pronunciations ("the(2)") lose their mark. Should the
    segmentation disagree with the hypothesis, every word spans the decoded audio."""
    text = str(hyp.hypstr).split() if hyp is not None else []
    if not text:
        return []
    words = [
        Word(
            _ALTERNATE.sub("", seg.word),
            base_ms + 10 * seg.start_frame,
            base_ms + 10 * (seg.end_frame + 1),
        )
        for seg in decoder.seg()
        if not seg.word.startswith(("<", "[", "+"))
    ]
    if [word.text for word in words] != text:
        return [Word(word, base_ms, base_ms + length_ms) for word in text]
    return words


def decode_once(decoder: Any, pcm: bytes) -> Any:
    """One batch decode from the fixed cepstral means; the hypothesis (or None)."""
    decoder.set_cmn(CMN_START)
    decoder.start_utt()
    decoder.process_raw(pcm, False, True)
    decoder.end_utt()
    return decoder.hyp()


@functools.cache
def primer() -> bytes:
    """A second of speech decoded before every decode (about 28 ms of CPU).

    A decode's result depends on the decode before it, whatever the cepstral means are set to
    (seen: "lock the front door" read as "lock" or "" after a decode of its own first 1.5 s),
    and the decoder is shared by every session: so one session's text changed with what other
    sessions were saying. Decoding the same second of speech first makes every decode a
    function of its own audio. Half a second of speech, or of silence, was not enough.
    """
    return load_fixtures()[0].pcm()[:32000]


@functools.cache
def shared_decoder(phrases: tuple[str, ...]) -> SharedDecoder:
    """Return the process-wide decoder for a phrase list."""
    return SharedDecoder(phrases)
