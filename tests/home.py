"""The test home: the entities, areas and aliases every suite's commands name (plain data, so
Home Assistant's own venvs can read it too; `home_names` gives it as the bridge reads it).

English: the commands' entities, and what makes a paused command go on matter (issue 42): a
light "Desk" and a fan "Desk fan" (a name that begins another), three lights and two fans (a
target several entities share: "turn on the light … in the bedroom"). Slovenian: three
lights all named "Luč", one per room, as Slovenian homes name them, and two fans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wyoming_truebar.home.names import HomeNames

ENGLISH_AREAS = ("Kitchen", "Bedroom", "Living room", "Office")
ENGLISH_HOME: list[tuple[str, str, str | None, dict[str, Any]]] = [
    # (entity id, name, area, attributes)
    ("light.kitchen_light", "kitchen light", "Kitchen", {}),
    ("light.bedroom_light", "bedroom light", "Bedroom", {}),
    ("cover.living_room_blinds", "living room blinds", "Living room", {"device_class": "blind"}),
    ("cover.garage_door", "garage door", None, {"device_class": "garage"}),
    ("lock.front_door", "front door", None, {}),
    ("lock.back_door", "back door", None, {}),
    ("climate.thermostat", "thermostat", "Living room", {}),
    ("media_player.office_speaker", "office speaker", "Office", {}),
    ("fan.fan", "fan", "Bedroom", {}),
    ("vacuum.vacuum_cleaner", "vacuum cleaner", None, {}),
    ("light.desk", "Desk", "Office", {}),
    ("fan.desk_fan", "Desk fan", "Office", {}),
]

SLOVENIAN_AREAS = {
    "Kuhinja": ["kuhinji"],
    "Dnevna soba": ["dnevni sobi"],
    "Spalnica": ["spalnici", "spalni sobi"],
}
"""Areas, with the locative a Slovenian speaker uses ("v kuhinji", "v spalni sobi") as aliases."""
THERMOSTAT = {"temperature": 18, "supported_features": 1}  # TARGET_TEMPERATURE
DIMMABLE = {"supported_color_modes": ["brightness"], "color_mode": None}
SLOVENIAN_HOME: list[tuple[str, str, str | None, str, dict[str, Any]]] = [
    # (entity id, name, area, state, attributes)
    ("light.kuhinja", "Luč", "Kuhinja", "off", DIMMABLE),
    ("light.dnevna_soba", "Luč", "Dnevna soba", "off", DIMMABLE),
    ("light.spalnica", "Luč", "Spalnica", "off", DIMMABLE),
    ("fan.spalnica", "Ventilator", "Spalnica", "off", {}),
    ("fan.dnevna_soba", "Stropni ventilator", "Dnevna soba", "off", {}),
    ("cover.garazna_vrata", "Garažna vrata", None, "closed", {"device_class": "garage"}),
    ("lock.vhodna_vrata", "Vhodna vrata", None, "unlocked", {}),
    ("climate.termostat", "Termostat", "Dnevna soba", "heat", THERMOSTAT),
    ("media_player.radio", "Radio", None, "playing", {"supported_features": 1 | 16384}),
]


def home_names(language: str) -> HomeNames:
    """The language's test home as the bridge reads it from Home Assistant (entity names with
    their domains and device classes, areas with their aliases)."""
    from wyoming_truebar.home.names import HomeNames, Name  # noqa: PLC0415 - the bridge's venv

    if language.startswith("sl"):
        rows = [(e, n, a) for e, n, _, _, a in SLOVENIAN_HOME]
        areas = [n for area, more in SLOVENIAN_AREAS.items() for n in (area, *more)]
    else:
        rows = [(e, n, a) for e, n, _, a in ENGLISH_HOME]
        areas = list(ENGLISH_AREAS)
    entities = tuple(
        Name(name, entity_id.split(".")[0], attributes.get("device_class"), entity_id)
        for entity_id, name, attributes in rows
    )
    return HomeNames(entities, tuple(areas), ())
