#!/usr/bin/env python3
"""Writes the offline demo's fixtures under examples/fixtures/.

- msrc-updates.json: the MSRC CVRF /updates index as it stood in 2026 (real ids, titles and
  both date spellings; "Early" and pre-release documents included, so the demo shows them
  being ignored).
- advisories.csv: a simulated advisory feed from 2026-01-01 to 2030-12-31, three advisories a
  day eight hours apart (02:00, 10:00 and 18:00 Pacific), so that whenever the demo runs its
  recent bulletins are hours or days old.
- pmimport-releases.json: a simulated vendor release list in the PMImport style: for each
  MSRC month and each advisory, one release per language tier, on a fixed schedule that
  shows every state at any moment:
    english          released 6 h after each advisory                  -> met (pending for 6 h)
    other_languages  released 46 h after (at risk from 36 h, met), every
                     fourth advisory 60 h after (at risk, then past the
                     goal while pending, then released late)           -> at risk / met / breached
    office365        released 20 h after, never for the 10:00 advisory
                     of a Sunday                                       -> pending past goal
  Why these numbers: an advisory is at most 9 hours (8, or 9 across a daylight saving change)
  younger than the previous one, and other_languages is at risk from 36 h to 46 h after each,
  a 10-hour window, so some pair is always at risk; within the demo's 14-day series window
  there is always a Sunday advisory more than 48 hours old whose office365 content is missing.
Run it from the repository root: python3 scripts/gen-demo-fixtures.py [reference.json]
"""
import csv
import datetime as dt
import json
import os
import sys
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "examples", "fixtures")
LA = ZoneInfo("America/Los_Angeles")
UTC = dt.timezone.utc
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def iso(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def second_tuesday(year, month):
    d = dt.date(year, month, 1)
    first = d + dt.timedelta(days=(1 - d.weekday()) % 7)
    return first + dt.timedelta(days=7)


def msrc_clock_start(entry):
    """10:00 Pacific on the InitialReleaseDate's Pacific day, or None when not a bulletin."""
    if "early" in entry["DocumentTitle"].lower():
        return None
    raw = entry["InitialReleaseDate"].rstrip("Z")
    day = dt.datetime.fromisoformat(raw).replace(tzinfo=UTC).astimezone(LA).date()
    parts = entry["ID"].split("-")
    if len(parts) == 2 and parts[1] in MONTHS and day < second_tuesday(int(parts[0]), MONTHS.index(parts[1]) + 1):
        return None
    return dt.datetime.combine(day, dt.time(10, 0), LA)


def main():
    reference = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "reference", "msrc_updates_reconstructed.json")
    with open(reference) as f:
        index = json.load(f)
    for entry in index["value"]:
        entry.pop("_source", None)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "msrc-updates.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")

    releases = []
    # A release from before the history starts: the vendor's data reaches back far enough.
    for tier, language in [("english", "English"), ("other_languages", "All languages"), ("office365", "Office 365")]:
        releases.append({"version": f"2021.12.15-{tier}", "released": "2021-12-15T12:00:00Z", "language": language, "bulletins": ["2021-Dec"]})

    for n, entry in enumerate(e for e in index["value"] if msrc_clock_start(e) is not None):
        start = msrc_clock_start(entry)
        if start is None or start.year < 2022:
            continue
        delays = {
            "English": [5, 8, 12, 18, 22, 30][n % 6],
            "All languages": [20, 30, 40, 47, 52][n % 5],
            "Office 365": [24, 36, 44, 50][n % 4],
        }
        for language, hours in delays.items():
            t = start + dt.timedelta(hours=hours)
            releases.append({
                "version": f"{start:%Y.%m.%d}-{language.split()[0].lower()}",
                "released": iso(t),
                "language": language,
                "bulletins": [entry["ID"]],
            })

    day = dt.date(2026, 1, 1)
    issued = 0  # advisories so far
    with open(os.path.join(OUT, "advisories.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "title", "published"])
        while day <= dt.date(2030, 12, 31):
            # Eight hours apart in real time (arithmetic in UTC): 02:00, 10:00 and 18:00
            # Pacific, 01:00 or 03:00 instead of 02:00 on the day daylight saving changes.
            ten = dt.datetime.combine(day, dt.time(10, 0), LA).astimezone(UTC)
            for number, offset in enumerate((-8, 0, 8), start=1):
                start = ten + dt.timedelta(hours=offset)
                advisory = f"ADV-{day:%Y-%m-%d}-{number}"
                title = f"Demo security advisory {number} of {day:%A %d %B %Y}"
                w.writerow([advisory, title, start.astimezone(LA).isoformat()])
                schedule = [("English", 6), ("All languages", 60 if issued % 4 == 0 else 46)]
                if not (day.weekday() == 6 and offset == 0):
                    schedule.append(("Office 365", 20))
                for language, hours in schedule:
                    releases.append({
                        "version": f"{day:%Y.%m.%d}-{number}-adv-{language.split()[0].lower()}",
                        "released": iso(start + dt.timedelta(hours=hours)),
                        "language": language,
                        "bulletins": [advisory],
                    })
                issued += 1
            day += dt.timedelta(days=1)

    with open(os.path.join(OUT, "pmimport-releases.json"), "w") as f:
        f.write('{"product": "Patch Management Solution content (simulated)",\n "releases": [\n')
        f.write(",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in releases))
        f.write("\n ]\n}\n")
    print(f"wrote {len(releases)} releases")


if __name__ == "__main__":
    main()
