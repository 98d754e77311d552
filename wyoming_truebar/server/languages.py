"""Language codes to Truebar ASR tags, and the Wyoming Info built from them (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from .. import __version__
from ..config.settings import Settings
from ..truebar.discovery import Catalog
from ..truebar.protocol import Stage

ATTRIBUTION = Attribution(name="Vitasis Truebar", url="https://www.true-bar.si/")
PROGRAM_NAME = "truebar"


def tag_language(tag: str) -> str:
    """Return the language field of a tag (`KALDI:sl-SI:COL:v` → `sl-SI`)."""
    return tag.split(":")[1]


def normalise(code: str) -> str:
    """Return a comparable language code: `sl_si` and `SL-SI` both become `sl-si`."""
    return code.strip().replace("_", "-").lower()


@dataclass(frozen=True, slots=True)
class Choice:
    """The tag an utterance uses and the language reported back."""

    tag: str
    language: str
    exact: bool


@dataclass(frozen=True, slots=True)
class LanguageMap:
    """The ASR tags on offer, keyed by language."""

    tags: tuple[str, ...]
    default_language: str | None = None

    def resolve(self, requested: str | None) -> Choice | None:
        """Return the best tag for a requested language; None if only a fallback would do."""
        if not requested:
            return self.default()
        want = normalise(requested)
        for tag in self.tags:
            if normalise(tag_language(tag)) == want:
                return Choice(tag, tag_language(tag), exact=True)
        primary = want.split("-")[0]
        for tag in self.tags:
            if normalise(tag_language(tag)).split("-")[0] == primary:
                return Choice(tag, tag_language(tag), exact=True)
        return None

    def default(self) -> Choice:
        """Return the fallback: the default language's tag, else the first tag."""
        if self.default_language:
            want = normalise(self.default_language)
            for tag in self.tags:
                lang = normalise(tag_language(tag))
                if want in (lang, lang.split("-")[0]):
                    return Choice(tag, tag_language(tag), exact=False)
        return Choice(self.tags[0], tag_language(self.tags[0]), exact=False)

    def by_model_name(self, name: str) -> Choice | None:
        """Return the tag a client chose by its advertised model name."""
        for tag in self.tags:
            if tag == name:
                return Choice(tag, tag_language(tag), exact=True)
        return None


def advertised_languages(tag: str) -> list[str]:
    """Languages a model lists: the full code and its primary subtag (`sl-SI`, `sl`)."""
    full = tag_language(tag)
    primary = full.split("-")[0]
    return [full] if primary == full else [full, primary]


def build_info(
    tags: Sequence[str],
    streaming: bool = False,
    requires_external_vad: bool = True,
    prefers_auto_gain_enabled: bool = True,
    prefers_noise_reduction_enabled: bool = True,
) -> Info:
    """Return the Info answered to every Describe (built once, from memory); the last three
    tell Home Assistant which audio processing to run (its defaults: all True)."""
    models = [
        AsrModel(
            name=tag,
            description=f"Truebar streaming ASR {tag}",
            attribution=ATTRIBUTION,
            installed=True,
            version=None if tag.endswith(":*") else tag.split(":")[3],
            languages=advertised_languages(tag),
        )
        for tag in tags
    ]
    program = AsrProgram(
        name=PROGRAM_NAME,
        description="Truebar cloud speech-to-text (streaming)",
        attribution=ATTRIBUTION,
        installed=True,
        version=__version__,
        models=models,
        supports_transcript_streaming=streaming,
        requires_external_vad=requires_external_vad,
        prefers_auto_gain_enabled=prefers_auto_gain_enabled,
        prefers_noise_reduction_enabled=prefers_noise_reduction_enabled,
    )
    return Info(asr=[program])


def _same_language(code: str, language: str) -> bool:
    """Whether a configured code (`sl`, `sl-SI`) names a tag's language."""
    want, have = normalise(code), normalise(language)
    return want in (have, have.split("-")[0])


def offered_tags(settings: Settings, catalog: Catalog | None) -> tuple[str, ...]:
    """The ASR tags to offer: forced, else discovery's (one per language), else configured;
    then the per-language overrides."""
    if settings.asr_tag:
        return settings.asr_tag
    tags: list[str] = []
    for tag in catalog.asr if catalog is not None else settings.asr_tags:
        if all(tag_language(t) != tag_language(tag) for t in tags):
            tags.append(tag)  # the first tag of a language wins
    for code, tag in settings.asr_tag_overrides:
        matching = [i for i, t in enumerate(tags) if _same_language(code, tag_language(t))]
        if matching:
            tags[matching[0]] = tag
        else:
            tags.append(tag)
    return tuple(tags)


def nlp_stages(settings: Settings, catalog: Catalog | None, language: str) -> list[Stage]:
    """The NLP stages configured for a language, with tags from discovery (policy SKIP, so a
    failing NLP stage never costs the transcript)."""
    stages = []
    for entry in settings.nlp_tasks:
        scope, _, task = entry.rpartition(":")
        if scope and not _same_language(scope, language):
            continue
        offered = catalog.nlp.get(task, ()) if catalog is not None else ()
        tag = next((t for t in offered if normalise(tag_language(t)) == normalise(language)), None)
        tag = tag or next((t for t in offered if _same_language(tag_language(t), language)), None)
        if tag is None and catalog is None and task == "NLP_pc":
            tag = f"NEMO_PUNCTUATOR:{language}:*:*"  # the documented punctuator, undiscovered
        if tag is not None:
            stages.append(Stage(task, tag, {}, "SKIP"))
    return stages
