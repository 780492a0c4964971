"""Synthetic Indian outpatient e-prescriptions with gold spans, for a dev set that looks like
the platform's notes (no annotated Indian prescription corpus can be had).

Every note is assembled from parts written for this project (``resources/prescriptions.yaml``:
complaints, histories, vitals, investigations, diagnoses, medicine lines, advice, in the
conventions of Indian outpatient e-prescriptions), and every entity span is recorded as the
note is built, by the rules of docs/annotation.md: so the gold spans are exact by construction.
So are each mention's ``assertion`` (from the marker it is written after), its ``concept`` (a
drug's generic from the brand table; a disease's ICD-10-CM code from
``resources/prescription_codes.tsv``) and the note's ``links`` (``[treatment index, disease
index]`` pairs, docs/annotation.md "Links"). The forms added with them (``fever: nil``,
``N/K/C/O``, ``N/K/A/D/A``, ``Plan: RCT``, ``... for fever``) come from a second random source,
so the rest of each note is what the first version of the set wrote.
Noise the platform's notes have is added on purpose: shorthand, Hinglish symptom words, typos
in names, missing spaces (``Tab.Dolo``, ``x5days``), case changes, one line or many.

**Held-out names.** Each name (drug brand, generic, disease, symptom, therapy) falls by a hash
of its text into one of three groups: 75 % may appear in any split, 15 % only in ``dev`` and
10 % only in ``test``. A dev or test score therefore includes names the model never saw in
training, as real notes will. Section headings and phrasing have held-out variants the same
way.

``python -m medner.data.prescriptions --output data/prescriptions`` writes ``train.jsonl``,
``dev.jsonl`` and ``test.jsonl`` (the JSONL corpus format, DESIGN.md), deterministic for a seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from medner.data.vocabulary import icd_module

SPLITS = ("train", "dev", "test")
# dosage forms that doctors also write after the name
AFTER_NAME = {
    "Cream": ["cream", "crm", "oint"],
    "Oint.": ["ointment", "oint"],
    "Gel": ["gel"],
    "Lotion": ["lotion"],
    "Inhaler": ["inhaler", "rotacaps", "respules"],
    "Spray": ["nasal spray", "spray"],
    "Drops": ["eye drops", "drops", "E/D", "ear drops"],
    "Sachet": ["sachet", "powder"],
    "Syp.": ["syrup", "syp"],
}
DEFAULT_SIZES = {"train": 1200, "dev": 200, "test": 200}
CODES_FILE = "prescription_codes.tsv"
# forms added with the assertion and link annotations (issue 24); drawn from a second random
# source so that the notes' other content stays as it was
ABSENT_AFTER = [": nil", ": no", ": none", " - nil", " - no", " -ve", ": absent", " nil", ": Nil"]
NOT_KNOWN = ["N/K/C/O", "N/k/c/o", "Not a known case of", "No known case of"]
ALLERGY = ["N/K/A/D/A", "NKDA", "No known drug allergies", "N/K/A/D/A."]
PLANNED = ["Plan: ", "Plan - ", "Posted for ", "Planned for ", "Scheduled for ", "Adv. to undergo "]
SAID = [" for ", " for ", " in view of ", " - for "]
PAST_MARKERS = frozenset({"Past h/o", "Old case of"})
POSSIBLE_HEADINGS = frozenset({"Prov. Dx:", "Prov Dx:", "D/D:"})


def group(name: str) -> str:
    """``shared``, ``dev`` or ``test``: which splits a name may appear in (by a stable hash)."""
    bucket = int(hashlib.sha1(name.lower().encode()).hexdigest(), 16) % 20
    return "shared" if bucket < 15 else "dev" if bucket < 18 else "test"


def allowed(items: Sequence[Any], split: str, key: Any = None) -> list[Any]:
    """The items a note of ``split`` may use: shared ones, plus its own held-out ones."""
    out = []
    for item in items:
        g = group(key(item) if key else str(item))
        if g == "shared" or g == split:
            out.append(item)
    return out or list(items)


@dataclass
class Note:
    """A note being written: text so far and the entities recorded in it."""

    parts: list[str] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    length: int = 0
    links: list[tuple[int, int]] = field(default_factory=list)
    complaints: list[int] = field(default_factory=list)  # present complaints (indices)
    diagnoses: list[int] = field(default_factory=list)  # present or possible diagnoses

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def entity(
        self,
        text: str,
        label: str,
        assertion: str = "present",
        concept: dict[str, Any] | None = None,
    ) -> int:
        """Write a mention with its gold assertion and concept; its index."""
        record: dict[str, Any] = {
            "start": self.length,
            "end": self.length + len(text),
            "text": text,
            "label": label,
            "assertion": assertion,
        }
        if concept is not None:
            record["concept"] = concept
        self.entities.append(record)
        self.add(text)
        return len(self.entities) - 1

    def link(self, treatment: int, diseases: Sequence[int]) -> None:
        self.links.extend((treatment, d) for d in diseases)

    def prescribed_for(self) -> list[int]:
        """What the prescription treats (docs/annotation.md, "Links"): the diagnoses, else the
        complaints."""
        return list(self.diagnoses or self.complaints)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _vocab() -> dict[str, Any]:
    source = resources.files("medner.resources").joinpath("prescriptions.yaml")
    data: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    codes = resources.files("medner.resources").joinpath(CODES_FILE).read_text(encoding="utf-8")
    data["icd10cm"] = dict(
        line.split("\t") for line in codes.splitlines() if line and not line.startswith("#")
    )
    return data


def disease_concept(vocab: dict[str, Any], name: str) -> dict[str, Any]:
    """The gold ICD-10-CM concept of a disease name of the vocabulary."""
    icd = icd_module()
    code = vocab["icd10cm"][name]
    return {"system": "ICD-10-CM", "code": code, "name": icd.get_description(code)}


class Writer:
    """Writes notes of one split from the vocabulary, with a seeded random source."""

    def __init__(self, split: str, seed: int, vocab: dict[str, Any]) -> None:
        self.split = split
        self.rng = random.Random(f"{seed}-{split}")
        self.extra = random.Random(f"{seed}-{split}-meaning")
        self.v = vocab
        self.lower = False

    def disease(self, note: Note, name: str, surface: str, assertion: str) -> int:
        return note.entity(surface, "DISEASE", assertion, disease_concept(self.v, name))

    # -- small helpers -----------------------------------------------------------------------
    def pick(self, name: str) -> Any:
        items = self.v[name]
        return self.rng.choice(allowed(items, self.split, key=_key))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def typo(self, word: str) -> str:
        """A typing slip inside a name (letters only, never its first letter or a number)."""
        positions = [i for i in range(1, len(word) - 1) if word[i].isalpha()]
        if len(positions) < 3:
            return word
        i = self.rng.choice(positions)
        kind = self.rng.randrange(3)
        if kind == 0:
            return word[:i] + word[i + 1 :]
        if kind == 1 and word[i + 1].isalpha():
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        return word[:i] + word[i] + word[i:]

    def surface(self, name: str, typo_rate: float = 0.06) -> str:
        if self.chance(typo_rate):
            words = name.split(" ")
            j = max(range(len(words)), key=lambda k: len(words[k]))
            words[j] = self.typo(words[j])
            name = " ".join(words)
        if self.chance(0.12):
            name = name.upper()
        elif self.chance(0.08):
            name = name.lower()
        elif self.chance(0.12) and name[:1].islower():
            name = name[:1].upper() + name[1:]  # "? Dengue", "Fever"
        return name

    def duration(self) -> str:
        n = self.rng.choice([1, 2, 3, 4, 5, 7, 10, 15])
        unit = self.rng.choice(["days", "days", "day", "d", "wks", "weeks", "months"])
        if unit in ("wks", "weeks", "months"):
            n = self.rng.choice([1, 2, 3, 6])
        style = self.rng.choice(
            [
                "x {n} {u}",
                "x{n}{u}",
                "since {n} {u}",
                "for {n} {u}",
                "× {n} {u}",
                "{n}/7",
                "- {n} {u}",
            ]
        )
        if style == "{n}/7" and unit not in ("days", "day", "d"):
            style = "x {n} {u}"
        return style.format(n=n, u=unit)

    def joiner(self) -> str:
        return self.rng.choice(
            [", ", ", ", ", ", " & ", " and ", " + ", "; ", " / ", " with ", " associated with "]
        )

    def heading(self, kind: str) -> str:
        return str(self.pick(f"heading_{kind}"))

    # -- sections ----------------------------------------------------------------------------
    def complaints(self, note: Note, specialty: dict[str, Any]) -> None:
        note.add(self.heading("complaints") + " ")
        n = self.rng.choice([1, 1, 2, 2, 3])
        pool = specialty["symptoms"] + self.v["symptoms_common"]
        for i in range(n):
            if i:
                note.add(self.joiner())
            if self.chance(0.15):
                symptom = self.rng.choice(allowed(self.v["symptoms_hinglish"], self.split))
            else:
                symptom = self.rng.choice(allowed(pool, self.split))
            index = self.disease(note, symptom, self.surface(symptom, 0.04), "present")
            note.complaints.append(index)
            if self.chance(0.55):
                note.add(" " + self.duration())
        if self.extra.random() < 0.25:  # "fever: nil", "vomiting - no"
            absent = self.extra.choice(allowed(self.v["symptoms_common"], self.split))
            note.add(self.extra.choice([". ", ", ", "\n"]))
            self.disease(note, absent, absent, "absent")
            note.add(self.extra.choice(ABSENT_AFTER))

    def history(self, note: Note, specialty: dict[str, Any]) -> None:
        marker = str(self.pick("history_markers"))
        note.add(marker + " ")
        assertion = "history" if marker in PAST_MARKERS else "present"  # K/C/O: present, chronic
        pool = self.v["chronic"]
        n = self.rng.choice([1, 1, 2, 2, 3])
        chosen = self.rng.sample(allowed(pool, self.split), n)
        known = []
        for i, disease in enumerate(chosen):
            if i:
                note.add(self.joiner())
            known.append(self.disease(note, disease, self.surface(disease, 0.03), assertion))
            if self.chance(0.12):
                note.add(
                    " " + self.rng.choice(["since 5 yrs", "x 10 yrs", "for 2 years", "- 3 yrs"])
                )
        if self.chance(0.3):
            note.add(" on ")
            index = note.entity(self.surface(self.pick("drug_classes")), "TREATMENT", assertion)
            note.link(index, known)
        if self.chance(0.2):
            separator = self.rng.choice([". s/p ", ", s/p ", ". H/o ", ", post "])
            note.add(separator)
            index = note.entity(self.pick("procedures"), "TREATMENT", "history")
            if separator.startswith(","):  # the same phrase as the conditions
                note.link(index, known)

    def negated(self, note: Note) -> None:
        marker = str(self.pick("negation_markers"))
        if self.extra.random() < 0.2:
            marker = self.extra.choice(NOT_KNOWN)
        note.add(marker + " ")
        chosen = self.rng.sample(
            allowed(self.v["chronic"] + self.v["symptoms_common"], self.split), 2
        )
        self.disease(note, chosen[0], self.surface(chosen[0], 0.02), "absent")
        if self.chance(0.5):
            note.add(self.joiner())
            self.disease(note, chosen[1], self.surface(chosen[1], 0.02), "absent")

    def family(self, note: Note) -> None:
        note.add(str(self.pick("family_markers")) + " ")
        name = self.pick("chronic")
        self.disease(note, name, self.surface(name, 0.02), "family")
        if self.chance(0.5):
            note.add(" in " + self.rng.choice(["father", "mother", "both parents", "sibling"]))

    def vitals(self, note: Note) -> None:
        items = [
            f"BP {self.rng.randint(100, 170)}/{self.rng.randint(60, 105)} mmHg",
            f"PR {self.rng.randint(60, 120)}/min",
            f"Temp {self.rng.choice(['98.4', '99', '100.2', '101', '102.4'])} F",
            f"SpO2 {self.rng.randint(92, 99)}% on RA",
            f"RBS {self.rng.randint(85, 320)} mg/dl",
            f"Wt {self.rng.randint(8, 98)} kg",
            "CVS S1S2+",
            "RS B/L AE+",
            "P/A soft, NT",
            "NAD",
        ]
        note.add(
            self.heading("exam") + " " + ", ".join(self.rng.sample(items, self.rng.randint(2, 4)))
        )

    def investigations(self, note: Note) -> None:
        items = self.rng.sample(self.v["investigations"], self.rng.randint(1, 4))
        note.add(self.heading("investigations") + " " + ", ".join(items))

    def diagnosis(self, note: Note, specialty: dict[str, Any]) -> None:
        heading = self.heading("diagnosis")
        note.add(heading + " ")
        n = self.rng.choice([1, 1, 1, 2])
        for i in range(n):
            if i:
                note.add(self.rng.choice([", ", " with ", " & ", "; "]))
            assertion = "possible" if heading in POSSIBLE_HEADINGS else "present"
            if self.chance(0.2):
                note.add(self.rng.choice(["? ", "?", "R/O ", "r/o ", "Likely ", "Provisional: "]))
                assertion = "possible"
            elif self.chance(0.1):  # severity is not part of the name (docs/annotation.md)
                note.add(self.rng.choice(["mild ", "moderate ", "severe ", "Mild "]))
            disease = self.rng.choice(allowed(specialty["diagnoses"], self.split))
            note.diagnoses.append(
                self.disease(note, disease, self.surface(disease, 0.04), assertion)
            )

    def medicine(self, note: Note, specialty: dict[str, Any]) -> None:
        """One medicine line: form, name (with the strength that belongs to it), dose, frequency,
        timing, duration."""
        use_brand = self.chance(0.7)
        if use_brand:
            brand = self.rng.choice(
                allowed(specialty["brands"] + self.v["brands_common"], self.split, key=_key)
            )
            name, form = brand["name"], brand.get("form", "Tab.")
            concept = {
                "system": "generic-drug",
                "code": None,
                "name": brand["generic"],
                "kind": "brand",
            }
            strengths = brand.get("strengths", [])
            variants = brand.get("variants", [])
            text = name
            if variants and self.chance(0.35):
                text += self.rng.choice([" ", "-", " "]) + str(self.rng.choice(variants))
            if strengths and self.chance(0.75):
                strength = str(self.rng.choice(strengths))
                if self.chance(0.85):
                    text += " " + strength  # part of the brand's name (docs/annotation.md)
                    unit_dose = ""
                else:
                    unit_dose = f" {strength} mg"
            else:
                unit_dose = ""
        else:
            generic = self.rng.choice(
                allowed(specialty["generics"] + self.v["generics_common"], self.split, key=_key)
            )
            text, form = generic["name"], generic.get("form", "Tab.")
            concept = {
                "system": "generic-drug",
                "code": None,
                "name": text.lower(),
                "kind": "generic",
            }
            dose = self.rng.choice(generic.get("doses", ["500 mg"]))
            unit_dose = " " + (dose.replace(" ", "") if self.chance(0.3) else dose)
        after = form in AFTER_NAME and self.chance(0.4)  # "Volini gel", "Foracort inhaler"
        if not after and self.chance(0.85):
            note.add(self.form(form))
        index = note.entity(self.surface(text, 0.06), "TREATMENT", "present", concept)
        if after:
            note.add(" " + self.rng.choice(AFTER_NAME[form]))
        note.add(unit_dose)
        if form in ("Syp.", "Susp.", "Drops"):
            note.add(
                " "
                + self.rng.choice(["5ml", "5 ml", "10ml", "1 tsp", "2 tsp", "7.5 ml", "5 drops"])
            )
        if form in ("Cream", "Oint.", "Gel", "Lotion"):
            note.add(
                " "
                + self.rng.choice(
                    ["L/A BD", "local application twice daily", "apply at night", "LA OD"]
                )
            )
        else:
            note.add(" " + str(self.pick("frequencies")))
            if self.chance(0.4):
                note.add(" " + str(self.pick("timings")))
        if self.chance(0.7):
            note.add(
                " "
                + self.rng.choice(
                    [self.duration(), "x 5 days", "for 1 month", "to continue", "x 3 days"]
                )
            )
        targets = note.complaints + note.diagnoses
        if targets and self.extra.random() < 0.2:  # "SOS for fever": said on the line
            said = note.entities[self.extra.choice(targets)]
            note.add(self.extra.choice(SAID))
            mention = note.entity(said["text"], "DISEASE", "present", said.get("concept"))
            note.link(index, [mention])
        else:
            note.link(index, note.prescribed_for())

    def form(self, form: str) -> str:
        spellings = self.v["forms"].get(form, [form])
        spelled = str(self.rng.choice(spellings))
        if spelled.endswith(".") and self.chance(0.12):
            return spelled  # no space: "Tab.Dolo"
        return spelled + " "

    def prescription(self, note: Note, specialty: dict[str, Any]) -> None:
        note.add(self.heading("rx"))
        n = self.rng.choice([1, 2, 2, 3, 3, 4, 5])
        style = self.rng.choice(["lines", "numbered", "numbered", "commas"])
        for i in range(n):
            if style == "lines":
                note.add("\n")
            elif style == "numbered":
                note.add("\n" + self.rng.choice([f"{i + 1}. ", f"{i + 1}) ", f"{i + 1}.", "- "]))
            else:
                note.add(" " if i == 0 else ", ")
            self.medicine(note, specialty)

    def advice(self, note: Note) -> None:
        note.add(self.heading("advice") + " ")
        items: list[tuple[str, bool]] = []
        for _ in range(self.rng.choice([1, 2, 2, 3])):
            if self.chance(0.5):
                items.append((self.pick("therapies"), True))
            else:
                items.append((self.rng.choice(self.v["advice_plain"]), False))
        for i, (text, is_treatment) in enumerate(items):
            if i:
                note.add(self.rng.choice([", ", ". ", "; "]))
            if is_treatment:
                index = note.entity(self.surface(text, 0.03), "TREATMENT")
                note.link(index, note.prescribed_for())
            else:
                note.add(text)

    def planned(self, note: Note) -> None:
        """A procedure to be done later: "Plan: RCT", "Posted for TKR"."""
        note.add(self.extra.choice(PLANNED))
        procedure = self.extra.choice(allowed(self.v["procedures"], self.split))
        index = note.entity(procedure, "TREATMENT", "planned")
        note.link(index, note.prescribed_for())

    def allergy(self, note: Note) -> None:
        note.add(self.extra.choice(ALLERGY))

    def follow_up(self, note: Note) -> None:
        note.add(self.rng.choice(self.v["follow_up"]))

    # -- a whole note --------------------------------------------------------------------------
    def write(self) -> tuple[str, list[dict[str, Any]], str, list[tuple[int, int]]]:
        specialty_name = self.rng.choice(sorted(self.v["specialties"]))
        specialty = self.v["specialties"][specialty_name]
        note = Note()
        sections: list[Any] = []
        if self.chance(0.4):
            age = self.rng.randint(1, 85)
            sections.append(
                lambda n: n.add(
                    self.rng.choice(
                        [
                            f"{age}/{self.rng.choice('MF')}",
                            f"{age} yrs {self.rng.choice(['M', 'F', 'male', 'female'])}",
                            f"Age: {age}y",
                        ]
                    )
                )
            )
        sections.append(lambda n: self.complaints(n, specialty))
        if self.chance(0.5):
            sections.append(lambda n: self.history(n, specialty))
        if self.chance(0.2):
            sections.append(self.negated)
        if self.chance(0.12):
            sections.append(self.family)
        if self.extra.random() < 0.1:
            sections.insert(len(sections) - 1, self.allergy)
        if self.chance(0.45):
            sections.append(self.vitals)
        if self.chance(0.3):
            sections.append(self.investigations)
        if self.chance(0.85):
            sections.append(lambda n: self.diagnosis(n, specialty))
        sections.append(lambda n: self.prescription(n, specialty))
        if self.extra.random() < 0.1:
            sections.append(self.planned)
        if self.chance(0.55):
            sections.append(self.advice)
        if self.chance(0.4):
            sections.append(self.follow_up)
        separator = self.rng.choice(["\n", "\n", "\n", ". ", "\n\n"])
        for i, section in enumerate(sections):
            if i:
                note.add(separator)
            section(note)
        if self.chance(0.3):
            note.add(".")
        text = note.text
        if self.chance(0.08):  # a doctor who types in lower case
            text = text.lower()
            for e in note.entities:
                e["text"] = e["text"].lower()
        for e in note.entities:
            assert text[e["start"] : e["end"]] == e["text"]
        return text, note.entities, specialty_name, note.links


def _key(item: Any) -> str:
    return str(item["name"]) if isinstance(item, dict) else str(item)


def generate(split: str, size: int, seed: int = 22) -> list[dict[str, Any]]:
    """``size`` notes of ``split`` as JSONL records."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    writer = Writer(split, seed, _vocab())
    records = []
    for i in range(size):
        text, entities, specialty, links = writer.write()
        records.append(
            {
                "id": f"rx-{split}-{i:04d}",
                "text": text,
                "entities": entities,
                "links": sorted(set(links)),
                "specialty": specialty,
            }
        )
    return records


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("data/prescriptions"))
    parser.add_argument("--seed", type=int, default=22)
    for split, size in DEFAULT_SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=size, help=f"notes in {split}")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        records = generate(split, getattr(args, split), args.seed)
        with (args.output / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        entities = sum(len(r["entities"]) for r in records)
        print(f"{split}: {len(records)} notes, {entities} entities")


if __name__ == "__main__":
    main()
