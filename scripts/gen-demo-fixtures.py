#!/usr/bin/env python3
"""Writes the offline demo's fixtures under examples/fixtures/.

- msrc-updates.json: the MSRC CVRF /updates index in the shape the live index has (one line,
  `Z` on every date, the three spellings of a day: midnight PDT, midnight PST and, for the
  months Microsoft writes that way, midnight UTC; the 64 "Mariner Release Notes" entries).
  Microsoft's months from 2016 to July 2026 (from the reference reconstruction, "Early" and
  pre-release documents included, which are ignored), then simulated months, one per Patch
  Tuesday, to December 2030, so that whenever the demo runs its latest Patch Tuesday is at most
  five weeks old.
- cvrf/{id}.json: each month's CVRF document (2023 on), in the shape of the API's JSON, holding
  only its out-of-band vulnerabilities: the real ones of 2023 to 2026 (the July 2025
  SharePoint emergency, January 2026's Office update, ...), and in each simulated month one,
  eight days after its Patch Tuesday.
- advisories.csv: a simulated advisory feed from 2026-01-01 to 2030-12-31, two advisories a
  day twelve hours apart (10:00 and 22:00 Pacific), so that whenever the demo runs its recent
  bulletins are hours or days old.
- pmimport-releases.json: a simulated vendor release list in the PMImport style: for each
  MSRC month, out-of-band update and advisory, one release per language tier, on a fixed
  schedule that shows every state at any moment:
    english          released 6 h after each advisory                  -> met (pending for 6 h)
    other_languages  released 48 h after (at risk from 36 h, met just in
                     time), every fourth advisory 60 h after (at risk,
                     then past the goal while pending, released late)  -> at risk / met / breached
    office365        released 20 h after, never for the 10:00 advisory
                     of a Sunday                                       -> pending past goal
  Why these numbers: advisories are 12 hours apart and other_languages is at risk from 36 h
  to 48 h after each, a 12-hour window, so some pair is always at risk; within the demo's
  36-day series window there is always a Sunday advisory more than 48 hours old whose
  office365 content is missing.
- office-releases.json: Microsoft 365 Apps builds per update channel, in the shape of
  Microsoft's OfficeReleases answer (https://clients.config.office.net/releases/v1.0/OfficeReleases:
  the nine channels in Microsoft's order with their `channel` short names, `alternateNames` and
  CDN URLs; builds grouped by version, newest first; Python's indent=4 layout; availabilityDate
  in UTC with the milliseconds Microsoft's store keeps, ending in 0, 3 or 7, trailing zeros
  dropped: `.183Z`, `.12Z`). Simulated builds from 2026 to 2030 on Microsoft's cadence:
    Current            Patch Tuesday (an update of last month's version) and two weeks later
                       (the month's new version)
    MonthlyEnterprise  Patch Tuesday: last month's version, new, and the one before, updated
    SemiAnnual         Patch Tuesday: each version supported (14 months from its January or
                       July start), two or three builds minutes apart
    SemiAnnualPreview  Patch Tuesday: February's version from March, August's from September
    CurrentPreview, BetaChannel, PerpetualVL2024/2021/2019: previews, weekly betas, monthly
                       perpetual updates (2021 and 2019 until October 2026)
  so that whenever the demo runs the latest Current build is at most three weeks old and the
  latest Monthly Enterprise and Semi-Annual builds at most five.
- pmimport-releases.json also holds the vendor's Office 365 content for the builds of Current,
  MonthlyEnterprise and SemiAnnual: one release per channel and day, covering that day's
  builds, 20, 26, 31, 38, 44 or 50 h after the last of them    -> met / pending / breached
- pmimport-kb.html, pmimport-releases.atom, PMImport.cab: the same vendor as a knowledge-base
  page, a release feed and its content file, for the demo's fourth tier (knowledge_base):
    the page lists a release a day except Saturday's, covering the 22:00 advisory of the day
    before and the 10:00 one of the day, 4, 9, 16 or 28 h after 10:00, in US Central time;
    every fifth row gives only the date                                -> met / breached
    the feed announces Saturday's content 30 h after its 10:00 advisory -> breached
    the content file is watched for change                             -> one release, on checkout
Run it from the repository root: python3 scripts/gen-demo-fixtures.py [reference.json]
"""
import csv
import datetime as dt
import json
import os
import random
import sys
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "examples", "fixtures")
LA = ZoneInfo("America/Los_Angeles")
UTC = dt.timezone.utc
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"]

# Facts of the live index (July 2026): months whose InitialReleaseDate is written as midnight
# UTC, and the ids of the "Mariner Release Notes" entries (each dated the 2nd, at midnight UTC).
MIDNIGHT_UTC = {"2020-Dec", "2024-Oct", "2024-Dec", "2025-Jan", "2025-Jun", "2025-Sep", "2025-Nov", "2025-Dec"}
MARINER = """1999-Sep 2000-Feb 2000-Jan 2000-Oct 2001-May 2001-Sep 2002-Mar 2003-Apr 2005-Jun 2005-Mar
2006-Oct 2007-Aug 2007-Dec 2007-Jan 2007-Jun 2007-Mar 2007-May 2008-Jan 2008-Mar 2008-May 2008-Sep
2009-Apr 2009-Dec 2009-Jul 2009-Mar 2009-Oct 2010-Aug 2010-Feb 2010-Jan 2010-Jun 2010-Oct 2011-Aug
2011-Jan 2011-Jul 2011-Mar 2012-Apr 2012-Aug 2012-Feb 2012-Jul 2012-Mar 2012-May 2012-Nov 2013-Aug
2013-Dec 2013-Mar 2013-May 2013-Nov 2013-Oct 2014-Dec 2014-Feb 2014-Jan 2014-May 2014-Nov 2014-Oct
2014-Sep 2015-Apr 2015-Aug 2015-Dec 2015-Feb 2015-Jan 2015-Jul 2015-May 2015-Nov 2015-Sep""".split()
# Out-of-band days of the real month documents, 2023 to 2026, by the rule the exporter applies
# (vulnerabilities first published after the release day with a KB vendor fix).
REAL_OUT_OF_BAND = {
    "2023-Jan": [("2023-01-26", ["CVE-2023-21712"])],
    "2023-Apr": [("2023-04-14", ["CVE-2021-45985"])],
    "2023-Aug": [("2023-08-15", ["CVE-2023-36769"])],
    "2023-Oct": [("2023-10-19", ["CVE-2023-38039", "CVE-2023-38545"])],
    "2024-Feb": [("2024-02-20", ["CVE-2024-21315"])],
    "2024-Mar": [("2024-03-22", ["CVE-2024-29059"])],
    "2024-Sep": [("2024-09-19", ["CVE-2024-38016"])],
    "2025-Jan": [("2025-01-16", ["CVE-2025-21325"])],
    "2025-Jul": [("2025-07-19", ["CVE-2025-53770"]), ("2025-07-20", ["CVE-2025-53771"]), ("2025-08-14", ["CVE-2025-6965"])],
    "2025-Aug": [("2025-08-21", ["CVE-2025-55229", "CVE-2025-55230", "CVE-2025-55231"])],
    "2025-Sep": [("2025-09-18", ["CVE-2025-59215", "CVE-2025-59216", "CVE-2025-59220"])],
    "2025-Nov": [("2025-11-27", ["CVE-2025-64720", "CVE-2025-65018"])],
    "2026-Jan": [("2026-01-26", ["CVE-2026-21509"])],
    "2026-Apr": [("2026-04-21", ["CVE-2026-40372"])],
    "2026-May": [("2026-05-14", ["CVE-2026-42897"]), ("2026-05-19", ["CVE-2026-45585"]),
                 ("2026-05-21", ["CVE-2026-45659"]), ("2026-05-29", ["CVE-2026-47294"])],
}
# The reference ends with the documents of mid-2026 still "Early"; these months are final.
FINAL_IN_2026 = ["2026-Apr", "2026-Jun", "2026-Jul"]
SIMULATED_FROM = (2026, 8)
SIMULATED_UNTIL = (2030, 12)


def iso(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def second_tuesday(year, month):
    d = dt.date(year, month, 1)
    first = d + dt.timedelta(days=(1 - d.weekday()) % 7)
    return first + dt.timedelta(days=7)


def pacific_midnight(day):
    """How the live index writes a Pacific day: midnight PDT or PST, in UTC."""
    return iso(dt.datetime.combine(day, dt.time(0, 0), LA))


def odd_time(day, n):
    """A re-dated CurrentReleaseDate with a time of day, as the live index writes them."""
    return f"{day:%Y-%m-%d}T{(n * 7) % 24:02d}:{(n * 13) % 60:02d}:{(n * 29) % 60:02d}Z"


def month_id(year, month):
    return f"{year}-{MONTHS[month - 1]}"


def msrc_clock_start(entry):
    """10:00 Pacific on the InitialReleaseDate's day as written, or None when not a bulletin."""
    title = entry["DocumentTitle"].lower()
    if "security" not in title or "early" in title:
        return None
    day = dt.date.fromisoformat(entry["InitialReleaseDate"][:10])
    parts = entry["ID"].split("-")
    months = [m.lower() for m in MONTHS]
    if len(parts) == 2 and parts[1].lower() in months and day < second_tuesday(int(parts[0]), months.index(parts[1].lower()) + 1):
        return None
    return dt.datetime.combine(day, dt.time(10, 0), LA)


def index_entry(doc_id, title, initial, current):
    return {
        "ID": doc_id, "Alias": doc_id, "DocumentTitle": title, "Severity": None,
        "InitialReleaseDate": initial, "CurrentReleaseDate": current,
        "CvrfUrl": f"https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{doc_id}",
    }


def out_of_band_days(doc_id, n):
    """(day, CVE ids) of a month's out-of-band updates: real ones, or one simulated."""
    if doc_id in REAL_OUT_OF_BAND:
        return [(dt.date.fromisoformat(d), cves) for d, cves in REAL_OUT_OF_BAND[doc_id]]
    year, month = int(doc_id[:4]), MONTHS.index(doc_id[5:8]) + 1
    if (year, month) < SIMULATED_FROM:
        return []
    day = second_tuesday(year, month) + dt.timedelta(days=8)
    return [(day, [f"CVE-{year}-{90000 + n:05d}"])]


def build_index(reference):
    entries = []
    by_id = {}
    for entry in reference["value"]:
        entry = dict(entry)
        entry.pop("_source", None)
        if entry["ID"] == "Oct-OOB":  # in Microsoft's XML archive, not in the live index
            continue
        by_id[entry["ID"]] = entry
    for doc_id in FINAL_IN_2026:
        year, month = int(doc_id[:4]), MONTHS.index(doc_id[5:]) + 1
        day = second_tuesday(year, month)
        by_id[doc_id] = index_entry(doc_id, f"{MONTH_NAMES[month - 1]} {year} Security Updates", day.isoformat(), day.isoformat())
    year, month = SIMULATED_FROM
    n = 0
    while (year, month) <= SIMULATED_UNTIL:
        doc_id = month_id(year, month)
        day = second_tuesday(year, month)
        initial = f"{day}T00:00:00Z" if n % 3 == 2 else pacific_midnight(day)
        by_id[doc_id] = index_entry(doc_id, f"{MONTH_NAMES[month - 1]} {year} Security Updates", initial, initial)
        n += 1
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for n, (doc_id, entry) in enumerate(sorted(by_id.items())):
        day = dt.date.fromisoformat(entry["InitialReleaseDate"][:10])
        final = msrc_clock_start(entry) is not None
        if doc_id in MIDNIGHT_UTC and final:
            entry["InitialReleaseDate"] = f"{day}T00:00:00Z"
        elif not entry["InitialReleaseDate"].endswith("Z"):
            entry["InitialReleaseDate"] = pacific_midnight(day)
        # Re-dated by the last out-of-band update, or two days after the release.
        days = [d for d, _ in out_of_band_days(doc_id, n)] if final else []
        entry["CurrentReleaseDate"] = odd_time(max(days) if days else day + dt.timedelta(days=2), n)
        entries.append(entry)
    for doc_id in MARINER:
        entries.append(index_entry(doc_id, "Mariner Release Notes", f"{doc_id[:4]}-{MONTHS.index(doc_id[5:]) + 1:02d}-02T00:00:00Z",
                                   odd_time(dt.date(2026, 2, 19), len(entries))))
    # The live index lists documents by id, in byte order.
    entries.sort(key=lambda e: e["ID"])
    return {"@odata.context": "https://api.msrc.microsoft.com/$metadata#Updates", "value": entries}


def cvrf_document(entry, days):
    """A month's CVRF document, in the API's JSON shape, with its out-of-band vulnerabilities."""
    doc_id = entry["ID"]
    initial = entry["InitialReleaseDate"][:10] + "T" + ("00:00:00" if entry["InitialReleaseDate"].endswith("T00:00:00Z") else entry["InitialReleaseDate"][11:19])
    current = entry["CurrentReleaseDate"].rstrip("Z")
    vulnerabilities = []
    for day, cves in days:
        for cve in cves:
            vulnerabilities.append({
                "Title": {"Value": f"Out-of-band security update {day} ({'simulated' if cve[9] == '9' else 'as published'})"},
                "Notes": [], "DiscoveryDateSpecified": False, "ReleaseDateSpecified": False, "CVE": cve,
                "ProductStatuses": [{"ProductID": ["11923"], "Type": 3}],
                "Threats": [{"Description": {"Value": "Important"}, "ProductID": ["11923"], "Type": 3, "DateSpecified": False}],
                "CVSSScoreSets": [],
                "Remediations": [{
                    "Description": {"Value": str(5090000 + len(vulnerabilities))},
                    "URL": f"https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{5090000 + len(vulnerabilities)}",
                    "ProductID": ["11923"], "Type": 2, "DateSpecified": False, "AffectedFiles": [],
                    "RestartRequired": {"Value": "Yes"}, "SubType": "Security Update", "FixedBuild": "10.0.26100.9999",
                }],
                "Acknowledgments": [], "Ordinal": str(len(vulnerabilities)),
                "RevisionHistory": [{"Number": "1.0", "Date": f"{day}T07:00:00", "Description": {"Value": "<p>Information published.</p>\n"}}],
            })
    return {
        "DocumentTitle": {"Value": entry["DocumentTitle"]},
        "DocumentType": {"Value": "Security Update"},
        "DocumentPublisher": {"ContactDetails": {"Value": "secure@microsoft.com"}, "IssuingAuthority": {"Value": "The Microsoft Security Response Center (MSRC)"}, "Type": 0},
        "DocumentTracking": {
            "Identification": {"ID": {"Value": doc_id}, "Alias": {"Value": doc_id}},
            "Status": 2, "Version": "1.0",
            "RevisionHistory": [{"Number": "1", "Date": current, "Description": {"Value": entry["DocumentTitle"]}}],
            "InitialReleaseDate": initial, "CurrentReleaseDate": current,
        },
        "DocumentNotes": [],
        "ProductTree": {"FullProductName": [{"ProductID": "11923", "Value": "Windows 11 Version 24H2 for x64-based Systems"}]},
        "Vulnerability": vulnerabilities,
    }


KB_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Patch Management Solution content releases (simulated) | Knowledge Base</title>
  <script>window.dataLayer = window.dataLayer || [];</script>
</head>
<body>
  <header><a href="/">Support Portal</a></header>
  <nav><ul><li><a href="/kb">Knowledge Base</a></li><li><a href="/kb/180026">Service goals</a></li></ul></nav>
  <main>
    <div class="kb-article">
      <h1>Patch Management Solution content releases (simulated)</h1>
      <p>Release times are US Central time. Some releases give only the date.</p>
      <table class="release-history">
        <thead><tr><th>Content version</th><th>Release date</th><th>Languages</th><th>Bulletins</th></tr></thead>
        <tbody>
{rows}
        </tbody>
      </table>
    </div>
  </main>
  <footer><p>Demo data generated by scripts/gen-demo-fixtures.py</p></footer>
</body>
</html>
"""


def write_vendor_pages():
    chicago = ZoneInfo("America/Chicago")
    rows = []
    feed = []
    day = dt.date(2026, 1, 1)
    n = 0
    while day <= dt.date(2030, 12, 31):
        start = dt.datetime.combine(day, dt.time(10, 0), LA)
        covers = f"ADV-{day - dt.timedelta(days=1):%Y-%m-%d}-2, ADV-{day:%Y-%m-%d}-1"
        if day.weekday() == 5:
            t = start + dt.timedelta(hours=30)
            feed.append(
                f"  <entry>\n    <id>urn:demo:pmimport:{day:%Y.%m.%d}.weekend</id>\n"
                f"    <title>PMImport weekend content released (ADV-{day:%Y-%m-%d}-1)</title>\n"
                f"    <published>{iso(t)}</published>\n    <updated>{iso(t)}</updated>\n  </entry>"
            )
        else:
            t = (start + dt.timedelta(hours=[4, 9, 16, 28][n % 4])).astimezone(chicago)
            when = f"{t:%m/%d/%Y}" if n % 5 == 4 else f"{t:%m/%d/%Y %I:%M %p}"
            rows.append(
                f"          <tr><td>PMImport {day:%Y.%m.%d}.1</td><td>{when}</td>"
                f"<td>English/Invariant</td><td>{covers}</td></tr>"
            )
            n += 1
        day += dt.timedelta(days=1)
    # A release before the history starts: the page reaches back far enough.
    rows.insert(
        0,
        "          <tr><td>PMImport 2025.12.15.1</td><td>12/15/2025 09:00 AM</td>"
        "<td>English/Invariant</td><td>&mdash;</td></tr>"
    )
    rows.reverse()  # newest first, as knowledge-base pages list them
    with open(os.path.join(OUT, "pmimport-kb.html"), "w") as f:
        f.write(KB_PAGE.replace("{rows}", "\n".join(rows)))
    with open(os.path.join(OUT, "pmimport-releases.atom"), "w") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n')
        f.write("  <title>Patch Management content releases (simulated)</title>\n")
        f.write("  <id>urn:demo:pmimport:releases</id>\n  <updated>2030-12-31T00:00:00Z</updated>\n")
        f.write("\n".join(feed))
        f.write("\n</feed>\n")
    # Stands in for the vendor's content CAB: only its modification time matters here.
    with open(os.path.join(OUT, "PMImport.cab"), "wb") as f:
        f.write(b"MSCF\0\0\0\0" + bytes(range(256)) * 16)


# The channels of Microsoft's OfficeReleases answer, in its order: channelId, `channel` (the
# short name), alternateNames and cdnBaseUrl, as captured (tests/fixtures/m365/README.md).
OFFICE_CHANNELS = [
    ("BetaChannel", "Beta", [], "5440fd1f-7ecb-4221-8110-145efaa6372f"),
    ("CurrentPreview", "MonthlyPreview", ["InsiderSlow", "FirstReleaseCurrent", "Insiders"], "64256afe-f5d9-4f86-8936-8840a6a4f5be"),
    ("Current", "Monthly", ["Monthly"], "492350f6-3a01-4f97-b9c0-c7c6ddf67d60"),
    ("MonthlyEnterprise", "MEC", [], "55336b82-a18d-4dd6-b5f6-9e5095c314a6"),
    ("PerpetualVL2024", "LTSB2024", ["Perpetual2024"], "7983bac0-e531-40cf-be00-fd24fe66619c"),
    ("SemiAnnualPreview", "SACT", ["FirstReleaseDeferred", "Targeted"], "b8f9b850-328d-4355-9145-c59439a0c4cf"),
    ("SemiAnnual", "SAC", ["Deferred", "Broad"], "7ffbc6bf-bc32-4f92-8982-f9dd17fd3114"),
    ("PerpetualVL2021", "LTSB2021", ["Perpetual2021"], "5030841d-c919-4594-8d2d-84ae4f96e58e"),
    ("PerpetualVL2019", "LTSB", ["Perpetual2019"], "f2e724c1-748f-4b47-8fb8-8e0d210e9208"),
]
# The channels the demo's vendor ships Office 365 content for.
OFFICE_VENDOR_CHANNELS = ["Current", "MonthlyEnterprise", "SemiAnnual"]
OFFICE_VENDOR_DELAYS = [20, 26, 31, 38, 44, 50]
NO_DATE = "0001-01-01T00:00:00Z"


def add_months(year, month, n):
    k = year * 12 + month - 1 + n
    return k // 12, k % 12 + 1


def office_version(year, month):
    """A feature version's name (`2603`) and build number: about 99 builds a month from 2508's
    19127, as Microsoft's numbering runs."""
    build = 19127 + 99 * ((year - 2025) * 12 + month - 8)
    return f"{year % 100:02d}{month:02d}", build


def office_instant(key, day, first_hour, last_hour):
    """A time of day between the hours, with milliseconds as Microsoft's store keeps them."""
    rng = random.Random(key)
    t = dt.datetime.combine(day, dt.time(0, 0), UTC) + dt.timedelta(
        seconds=rng.randrange(first_hour * 3600, last_hour * 3600))
    return t, rng.randrange(100) * 10 + rng.choice([0, 3, 7])


def office_time(t, millis):
    fraction = f"{millis:03d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def semi_annual_versions(year, month):
    """The versions Semi-Annual Enterprise supports in a month: February's from July, August's
    from January, each for 14 months."""
    versions = []
    for start_year in range(year - 2, year + 1):
        for start_month, feature_month, feature_year in [(1, 8, start_year - 1), (7, 2, start_year)]:
            age = (year - start_year) * 12 + month - start_month
            if 0 <= age < 14:
                versions.append(((start_year, start_month), office_version(feature_year, feature_month)))
    return versions


def office_builds():
    """Every build from 2026 to 2030: (channelId, time, millis, version, build number,
    endOfSupportDate)."""
    events = []
    year, month = 2026, 1
    while (year, month) <= (2030, 12):
        pt = second_tuesday(year, month)
        this, last, before = (office_version(*add_months(year, month, n)) for n in (0, -1, -2))
        nxt = office_version(*add_months(year, month, 1))

        def add(channel, day, hours, version, eos, build=None):
            t, ms = office_instant(f"{channel} {day} {version[0]} {build}", day, *hours)
            events.append((channel, t, ms, version[0], build or version[1], eos))

        for k, day in enumerate([pt - dt.timedelta(days=6), pt + dt.timedelta(days=1), pt + dt.timedelta(days=8), pt + dt.timedelta(days=15)]):
            add("BetaChannel", day, (15, 23), nxt, NO_DATE, build=nxt[1] - 15 + 5 * k)
        add("CurrentPreview", pt - dt.timedelta(days=5), (16, 20), this, NO_DATE)
        add("CurrentPreview", pt + dt.timedelta(days=8), (16, 20), this, NO_DATE)
        add("Current", pt, (14, 18), last, NO_DATE)
        add("Current", pt + dt.timedelta(days=14), (17, 21), this, NO_DATE)
        eos = lambda n: f"{second_tuesday(*add_months(year, month, n))}T00:00:00Z"
        add("MonthlyEnterprise", pt, (8, 15), last, eos(2))
        add("MonthlyEnterprise", pt, (8, 15), before, eos(1))
        preview_feature = (year, 2) if 3 <= month <= 8 else ((year, 8) if month >= 9 else (year - 1, 8))
        start = (year, 3) if 3 <= month <= 8 else ((year, 9) if month >= 9 else (year - 1, 9))
        add("SemiAnnualPreview", pt, (8, 18), office_version(*preview_feature),
            f"{second_tuesday(*add_months(*start, 6))}T00:00:00Z")
        for (start_year, start_month), version in semi_annual_versions(year, month):
            add("SemiAnnual", pt, (8, 18), version, f"{second_tuesday(*add_months(start_year, start_month, 14))}T00:00:00Z")
        if (year, month) <= (2029, 10):
            add("PerpetualVL2024", pt, (13, 15), ("2409", 17932), NO_DATE)
        if (year, month) <= (2026, 10):
            add("PerpetualVL2021", pt, (13, 15), ("2108", 14334), eos(1))
            add("PerpetualVL2019", pt, (13, 15), ("1808", 10417), eos(1))
        year, month = add_months(year, month, 1)
    return events


def office_releases():
    """Microsoft's answer (every build from 2026 to 2030) and the vendor's Office 365 releases."""
    events = sorted(office_builds(), key=lambda e: (e[1], e[2], e[0]))
    # Revisions grow with time within a build number; builds of one number on one day are one
    # build, whatever the channel. Beta builds are the first of their number.
    revisions = {}
    last = {}
    by_channel = {c[0]: [] for c in OFFICE_CHANNELS}
    for channel, t, ms, version, build, eos in events:
        if channel == "BetaChannel":
            revision = 20000
        else:
            key = (build, t.date())
            if key not in revisions:
                last[build] = last.get(build, 20000) + 2 * random.Random(f"{build} {t.date()}").randrange(10, 25)
                revisions[key] = last[build]
            revision = revisions[key]
        by_channel[channel].append({
            "legacyVersion": f"16.0.{build}.{revision}",
            "releaseVersion": version,
            "buildVersion": f"{build}.{revision}",
            "availabilityDate": office_time(t, ms),
            "endOfSupportDate": eos,
            "cdnBaseUrl": "",
            "_time": t,
        })
    answer = []
    releases = []
    for channel_id, name, alternate, cdn in OFFICE_CHANNELS:
        builds = by_channel[channel_id]
        if channel_id in OFFICE_VENDOR_CHANNELS:
            days = {}
            for b in builds:
                days.setdefault(b["_time"].date(), []).append(b)
            for n, (day, group) in enumerate(sorted(days.items())):
                ready = max(b["_time"] for b in group) + dt.timedelta(hours=OFFICE_VENDOR_DELAYS[n % len(OFFICE_VENDOR_DELAYS)])
                releases.append({
                    "version": f"{day:%Y.%m.%d}-o365-{channel_id.lower()}",
                    "released": iso(ready),
                    "language": "Office 365",
                    "bulletins": [f"{channel_id}-{b['legacyVersion']}" for b in group],
                })
        # Microsoft lists a channel's builds by version, newest first.
        builds.sort(key=lambda b: tuple(int(p) for p in b["legacyVersion"].split(".")), reverse=True)
        for b in builds:
            del b["_time"]
            b["cdnBaseUrl"] = f"http://officecdn.microsoft.com/pr/{cdn}"
        answer.append({
            "channel": name,
            "channelId": channel_id,
            "alternateNames": alternate,
            "latestVersion": builds[0]["legacyVersion"],
            "officeVersions": builds,
        })
    releases.sort(key=lambda r: r["released"])
    return answer, releases


def main():
    reference = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "reference", "msrc_updates_reconstructed.json")
    with open(reference) as f:
        index = build_index(json.load(f))
    os.makedirs(os.path.join(OUT, "cvrf"), exist_ok=True)
    with open(os.path.join(OUT, "msrc-updates.json"), "w") as f:
        json.dump(index, f, separators=(",", ":"))
        f.write("\n")

    releases = []
    # A release from before the history starts: the vendor's data reaches back far enough.
    for tier, language in [("english", "English"), ("other_languages", "All languages"), ("office365", "Office 365")]:
        releases.append({"version": f"2021.12.15-{tier}", "released": "2021-12-15T12:00:00Z", "language": language, "bulletins": ["2021-Dec"]})

    documents = 0
    bulletins = [e for e in index["value"] if msrc_clock_start(e) is not None]
    bulletins.sort(key=lambda e: e["InitialReleaseDate"][:10])
    for n, entry in enumerate(bulletins):
        start = msrc_clock_start(entry)
        if start.year < 2022:
            continue
        days = out_of_band_days(entry["ID"], n)
        if start.year >= 2023:
            with open(os.path.join(OUT, "cvrf", f"{entry['ID']}.json"), "w") as f:
                json.dump(cvrf_document(entry, days), f, separators=(",", ":"))
                f.write("\n")
            documents += 1
        clocks = [(entry["ID"], start)] + [
            (f"{entry['ID']}-OOB-{day}", dt.datetime.combine(day, dt.time(10, 0), LA)) for day, _ in days
        ]
        for k, (bulletin, clock) in enumerate(clocks):
            m = n + k
            delays = {
                "English": [5, 8, 12, 18, 22, 30][m % 6],
                "All languages": [20, 30, 40, 47, 52][m % 5],
                "Office 365": [24, 36, 44, 50][m % 4],
            }
            for language, hours in delays.items():
                releases.append({
                    "version": f"{clock:%Y.%m.%d}-{'oob-' if k else ''}{language.split()[0].lower()}",
                    "released": iso(clock + dt.timedelta(hours=hours)),
                    "language": language,
                    "bulletins": [bulletin],
                })

    day = dt.date(2026, 1, 1)
    issued = 0  # advisories so far
    with open(os.path.join(OUT, "advisories.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "title", "published"])
        while day <= dt.date(2030, 12, 31):
            # Twelve hours apart in real time (arithmetic in UTC): 10:00 and 22:00 Pacific,
            # 21:00 or 23:00 instead of 22:00 on the day daylight saving changes.
            ten = dt.datetime.combine(day, dt.time(10, 0), LA).astimezone(UTC)
            for number, offset in enumerate((0, 12), start=1):
                start = ten + dt.timedelta(hours=offset)
                advisory = f"ADV-{day:%Y-%m-%d}-{number}"
                title = f"Demo security advisory {number} of {day:%A %d %B %Y}"
                w.writerow([advisory, title, start.astimezone(LA).isoformat()])
                schedule = [("English", 6), ("All languages", 60 if issued % 4 == 0 else 48)]
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

    office, office_content = office_releases()
    with open(os.path.join(OUT, "office-releases.json"), "w") as f:
        json.dump(office, f, ensure_ascii=False, indent=4)
    releases.extend(office_content)

    write_vendor_pages()

    with open(os.path.join(OUT, "pmimport-releases.json"), "w") as f:
        f.write('{"product": "Patch Management Solution content (simulated)",\n "releases": [\n')
        f.write(",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in releases))
        f.write("\n ]\n}\n")
    builds = sum(len(c["officeVersions"]) for c in office)
    print(f"wrote {len(index['value'])} index entries, {documents} documents, {builds} Office builds, {len(releases)} releases")


if __name__ == "__main__":
    main()
