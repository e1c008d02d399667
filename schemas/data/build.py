"""Regenerates the administrative-unit tables in this directory from published packages.

    python schemas/data/build.py          # downloads the wheels once into .cache/admin-data

Nothing here runs at run time: the tables are checked in, and schemas/admin_units.py reads
them. The wheels are read as files (JSON, and Python data modules parsed with `ast`, never
imported or executed), so this runs on the project's Python 3.11 although
vietnam-provinces 2026.9.0 itself needs 3.12.

Sources (SOURCES.md says the same, with the wheels' SHA-256):
- vietnam-provinces 2026.9.0 (GPL-3.0-or-later): the units in force since 1 July 2025
  (Decision 19/2025/QĐ-TTg: 34 provinces, 3,321 communes) and the official conversion table
  from the units of June 2025 to them (BangChuyendoiĐVHCmoi_cu_khong_merge.csv).
- vietnam-provinces 0.4.3: the list of 2021 (63 provinces, 705 districts, 10,603 communes),
  the one the Ministry's guidance was written against.
- vietnam-provinces 0.6.0: the list of January 2025 (63 / 696 / 10,051).
- vietnamadminunits 1.0.4 (MIT): the names of the ten communes of June 2025 that are in the
  conversion table but in neither list above.

Corrections of the published tables (each checked by tests/test_admin_units.py):
- provinces: the successor of each old province is Resolution 202/2025/QH15's, written
  below; the package's province table also gives 80 for old 82 (its commune 27691 carries a
  wrong province), which this table does not follow.
- an old commune's province and district come from the lists, not from the conversion
  table (27691 and 30781 carry another province there).
- the five island districts that had no communes became special zones (đặc khu): their
  codes are written below.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import sqlite3
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = ROOT / ".cache" / "admin-data"

WHEELS = {
    "in_force": ("vietnam-provinces", "2026.9.0", ["--python-version", "3.12"]),
    "list_2021": ("vietnam-provinces", "0.4.3", []),
    "list_2025_01": ("vietnam-provinces", "0.6.0", []),
    "names_2025_06": ("vietnamadminunits", "1.0.4", []),
}

# Resolution 202/2025/QH15: new province <- the old provinces it was formed from.
MERGED = {
    "08": ("02", "08"), "15": ("10", "15"), "19": ("06", "19"), "24": ("24", "27"), "25": ("17", "25", "26"),
    "31": ("30", "31"), "33": ("33", "34"), "37": ("35", "36", "37"), "44": ("44", "45"), "48": ("48", "49"),
    "51": ("51", "62"), "52": ("52", "64"), "56": ("56", "58"), "66": ("54", "66"), "68": ("60", "67", "68"),
    "75": ("70", "75"), "79": ("74", "77", "79"), "80": ("72", "80"), "82": ("82", "87"), "86": ("83", "84", "86"),
    "91": ("89", "91"), "92": ("92", "93", "94"), "96": ("95", "96"),
}
UNCHANGED = ("01", "04", "11", "12", "14", "20", "22", "38", "40", "42", "46")
# Island districts without communes -> the special zone (đặc khu) each became.
ISLANDS = {"318": "11948", "471": "19742", "498": "20333", "536": "21548", "755": "26732"}


def wheel(key: str) -> Path:
    name, version, extra = WHEELS[key]
    target = CACHE / f"{name}-{version}"
    found = list(target.glob("*.whl"))
    if not found:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", *extra,
                        f"{name}=={version}", "-d", str(target)], check=True)
        found = list(target.glob("*.whl"))
    return found[0]


def read(whl: Path, member: str) -> bytes:
    with zipfile.ZipFile(whl) as z:
        return z.read(member)


def literal(node: ast.AST):
    """A data module's value: tuples, numbers, strings and NamedTuple calls (as tuples)."""
    if isinstance(node, ast.Call):
        return tuple(literal(a) for a in node.args)
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(literal(e) for e in node.elts)
    return ast.literal_eval(node)


def assigned(source: bytes, name: str) -> dict:
    for node in ast.parse(source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == name:
            assert isinstance(node.value, ast.Dict)
            return {literal(k): literal(v) for k, v in zip(node.value.keys, node.value.values)}
    raise KeyError(name)


def nested(whl: Path) -> list[dict]:
    return json.loads(read(whl, "vietnam_provinces/data/nested-divisions.json"))


def p2(code: int) -> str:
    return f"{code:02d}"


def d3(code: int) -> str:
    return f"{code:03d}"


def c5(code: int) -> str:
    return f"{code:05d}"


def write(name: str, header: list[str], rows: list[list]) -> None:
    with open(HERE / name, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)
    print(f"{name}: {len(rows)} rows")


def main() -> None:
    wheels = {key: wheel(key) for key in WHEELS}
    new = nested(wheels["in_force"])
    conversion = assigned(read(wheels["in_force"], "vietnam_provinces/_ward_conversion_2025.py"), "OLD_TO_NEW")

    # -- the units in force -------------------------------------------------------------------------
    provinces = {p2(p["code"]): p["name"] for p in new}
    communes = {c5(w["code"]): (w["name"], w["division_type"], p2(p["code"])) for p in new for w in p["wards"]}
    write("provinces-2025.csv", ["code", "name"], sorted([c, n] for c, n in provinces.items()))
    write("communes-2025.csv", ["code", "name", "kind", "province_code"],
          sorted([c, *v] for c, v in communes.items()))

    # -- the old units: every list since 2021 -------------------------------------------------------
    successor = {old: new_code for new_code, olds in MERGED.items() for old in olds}
    successor.update({code: code for code in UNCHANGED})
    old_provinces: dict[str, str] = {}
    districts: dict[str, dict] = {}
    old_communes: dict[str, dict] = {}
    for key, label in (("list_2021", "2021"), ("list_2025_01", "2025-01")):  # later names win
        for p in nested(wheels[key]):
            pcode = p2(p["code"])
            old_provinces[pcode] = p["name"]
            for d in p["districts"]:
                dcode = d3(d["code"])
                entry = districts.setdefault(dcode, {"lists": []})
                entry.update(name=d["name"], province=pcode)
                entry["lists"].append(label)
                for w in d["wards"]:
                    c = old_communes.setdefault(c5(w["code"]), {"lists": [], "districts": []})
                    c.update(name=w["name"], province=pcode)
                    c["lists"].append(label)
                    if dcode not in c["districts"]:
                        c["districts"].append(dcode)
    names_db = CACHE / "names-2025-06.db"
    names_db.write_bytes(read(wheels["names_2025_06"], "vietnamadminunits/data/dataset.db"))
    june = {row[0]: row[1:] for row in sqlite3.connect(names_db).execute(
        "SELECT wardCode, ward, districtCode, provinceCode FROM admin_units_legacy WHERE wardCode IS NOT NULL")}
    for code, ((_, district, province, partly), targets) in sorted(conversion.items()):
        ccode = c5(code)
        c = old_communes.get(ccode)
        if c is None:  # a commune of June 2025 formed after January: name and place from the June list
            name, dcode, pcode = june[ccode]
            c = old_communes[ccode] = {"name": name, "province": pcode, "districts": [dcode], "lists": []}
            assert dcode in districts and districts[dcode]["province"] == pcode, ccode
        c["lists"].append("2025-06")
        dcode = d3(district)  # the June list's district, where the commune moved since January
        if dcode not in c["districts"] and districts.get(dcode, {}).get("province") == c["province"]:
            c["districts"].append(dcode)
        c["successors"] = [c5(t[0]) for t in targets]
        c["partly"] = partly

    assert set(successor) == set(old_provinces), "every old province has a successor"
    problems = []
    for ccode, c in old_communes.items():
        for target in c.get("successors", []):
            if communes[target][2] != successor[c["province"]]:
                problems.append(f"commune {ccode} ({c['province']}) -> {target} ({communes[target][2]})")
    assert not problems, problems

    write("provinces-old.csv", ["code", "name", "successor"],
          sorted([c, n, successor[c]] for c, n in old_provinces.items()))
    write("districts-old.csv", ["code", "name", "province_code", "lists", "successor_commune"],
          sorted([c, d["name"], d["province"], " ".join(d["lists"]), ISLANDS.get(c, "")]
                 for c, d in districts.items()))
    write("communes-old.csv", ["code", "name", "province_code", "district_codes", "lists", "successors", "partly"],
          sorted([code, c["name"], c["province"], " ".join(c["districts"]), " ".join(c["lists"]),
                  " ".join(c.get("successors", [])), "1" if c.get("partly") else ""]
                 for code, c in old_communes.items()))

    by_list = defaultdict(int)
    for c in old_communes.values():
        by_list[" ".join(c["lists"])] += 1
    digests = {key: hashlib.sha256(path.read_bytes()).hexdigest() for key, path in wheels.items()}
    (HERE / "wheels.json").write_text(json.dumps(
        {key: {"package": WHEELS[key][0], "version": WHEELS[key][1], "file": wheels[key].name,
               "sha256": digests[key]} for key in WHEELS}, indent=1) + "\n")
    print("old communes by the lists they are in:", dict(sorted(by_list.items())))


if __name__ == "__main__":
    main()
