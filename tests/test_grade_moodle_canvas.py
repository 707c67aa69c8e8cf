"""A term's homework end to end: a Moodle or Canvas export in, files the LMS accepts out.

The exports are built the way Moodle 4.1+ and Canvas name their files (see
``gates/grade/lms.py``); the submissions are honest ones written in different styles
and saved in different ways (``honest_gates``), plus the typical mistakes. What Moodle
and Canvas would do with our files is checked by the rules their importers apply:
Moodle's offline-grading importer finds its columns by header and reads the
participant from "Participant N"; its feedback-zip importer splits each path part on
"_" and needs a participant id and a plugin name; Canvas matches students by ID and
assignments by "Title (id)".
"""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from experiments.cli import main as cli_main
from gates.grade.assignment import Scale, load_assignment
from honest_gates import (COLAB, GATES, HELPERS, HONEST, MISNAMED, MUTATED_CACHE, NAMES,
                          NO_UNBROADCAST, TORCH_FOR_COS, notebook)

ASSIGNMENT = f'''
title = "Bài tập 1: các cổng"
gates = {NAMES!r}
seed = 73519
language = "vi"
lms = "moodle"

[limits]
timeout = 5

[scale]
points = 10
decimals = 1
rounding = "half-up"
'''.replace("'", '"')

#: participant id -> (full name, {path inside the student's folder: bytes})
MOODLE_CLASS = {
    "1234501": ("Nguyễn Văn An", {"gates_hw.py": HONEST.encode()}),
    "1234502": ("Trần Thị Bình", {"gates_hw.py": b"\xef\xbb\xbf" +
                                  HONEST.replace("\n", "\r\n").encode()}),
    "1234503": ("Lê Văn Cường", {"Bài tập 1.ipynb": notebook(COLAB)}),
    "1234504": ("Phạm Minh Đức", {"gates_hw.py": ("import numpy as np\nfrom helpers import "
                                                   "unbroadcast\n" + GATES).encode(),
                                   "helpers.py": HELPERS.encode()}),
    "1234505": ("Hoàng Thu Hà", {"gates_hw.py": ("import torch\n" + TORCH_FOR_COS).encode()}),
    "1234506": ("Vũ Quốc Khánh", {"gates_hw.py": MISNAMED.encode()}),
    "1234507": ("Đặng Thị Lan", {"src/gates_hw.py": MUTATED_CACHE.encode()}),
    "1234509": ("Ngô Bảo Ngọc", {"gates_hw.py": NO_UNBROADCAST.encode()}),   # no worksheet row
}
FULL_MARKS = {"1234501", "1234502", "1234503", "1234504"}


def moodle_export(path):
    """Moodle 4.1+'s "Download all submissions" with submissions in folders: one folder
    ``Full Name_<participant id>_assignsubmission_file`` per student, and the online
    text plugin's own folder beside it."""
    with zipfile.ZipFile(path, "w") as z:
        for pid, (name, files) in MOODLE_CLASS.items():
            for inner, data in files.items():
                z.writestr(f"{name}_{pid}_assignsubmission_file/{inner}", data)
        z.writestr("Nguyễn Văn An_1234501_assignsubmission_onlinetext/onlinetext.html",
                   '<!DOCTYPE html><html><head><meta charset="UTF-8"></head>'
                   '<body><p>Em nộp bài ạ.</p></body></html>')
    return path


WORKSHEET_HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade",
                    "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                    "Online text", "Last modified (grade)", "Feedback comments"]


def moodle_worksheet(path, rows):
    """Moodle's offline grading worksheet as it downloads: every field quoted."""
    f = io.StringIO(newline="")
    w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(WORKSHEET_HEADER)
    for pid, name, maximum in rows:
        w.writerow([f"Participant {pid}", name, f"sv{pid}@example.edu.vn",
                    "Submitted for grading", "", maximum, "Yes",
                    "Monday, 30 November 2026, 9:15 PM", "", "-", ""])
    path.write_text(f.getvalue(), encoding="utf-8")
    return path


def moodle_accepts_worksheet(text):
    """What Moodle's offline-grading importer reads from ``text``: participant id ->
    (grade, feedback), by the header names it looks for."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header = rows[0]
    ident, grade, modified = (header.index(h) for h in
                              ("Identifier", "Grade", "Last modified (grade)"))
    feedback = header.index("Feedback comments")
    prefix = "Participant "
    return {r[ident][len(prefix):]: (r[grade], r[feedback]) for r in rows[1:]
            if r[modified] is not None}


def moodle_feedback_target(path):
    """The participant id Moodle's feedback-zip importer maps ``path`` to (None if it
    would reject it): each path part is split on "_" into at most 5 pieces, needs 4,
    a numeric participant id second, and a plugin type and name third and fourth."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith((".", "~")):
        return None
    for part in path.split("/"):
        info = part.split("_", 4)
        if len(info) >= 4 and info[1].isdigit() and info[2] in (
                "assignsubmission", "assignfeedback") and info[3] in ("file", "onlinetext",
                                                                      "comments"):
            return info[1]
    return None


@pytest.fixture(scope="module")
def moodle_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("moodle")
    export = moodle_export(tmp / "CS101-Bai tap 1-52.zip")
    (tmp / "assignment.toml").write_text(ASSIGNMENT, encoding="utf-8")
    rows = [(pid, name, "10.00") for pid, (name, _) in MOODLE_CLASS.items() if pid != "1234509"]
    rows.append(("1234508", "Bùi Văn Minh", "10.00"))          # handed in nothing
    worksheet = moodle_worksheet(tmp / "worksheet.csv", rows)
    out = tmp / "graded"
    code = cli_main(["grade", "--batch", str(export), "--assignment", str(tmp / "assignment.toml"),
                     "--moodle-worksheet", str(worksheet), "--out", str(out)])
    assert code == 0
    return tmp, out, worksheet


def test_a_moodle_export_gives_full_marks_to_every_correct_submission_whatever_its_form(moodle_run):
    _, out, _ = moodle_run
    rows = {r["id"]: r for r in csv.DictReader(
        io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig")))}
    # one row per student: the online text folder is An's, not a second student
    assert sorted(rows) == sorted(MOODLE_CLASS)
    assert rows["1234501"]["student"] == "Nguyễn Văn An"
    for pid in FULL_MARKS:
        assert rows[pid]["grade"] == "10.0" and rows[pid]["lost"] == "", rows[pid]


def test_each_mistake_costs_exactly_the_checks_it_breaks_once(moodle_run):
    _, out, _ = moodle_run
    rows = {r["id"]: r for r in csv.DictReader(
        io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig")))}
    # torch for CosGate's backward: that gate's backward checks (6.5 of its 10 points)
    assert rows["1234505"]["CosGate"] == "3.5" and rows["1234505"]["grade"] == "8.7"
    assert rows["1234505"]["lost"].startswith("CosGate -6.5 (framework đạo hàm tự động")
    # CosineGate: CosGate's 10 points, with the name to use
    assert rows["1234506"]["CosGate"] == "0.0" and rows["1234506"]["grade"] == "8.0"
    # a cache changed in backward: repeatable (0.5 of SigmoidGate's 10) and nothing else
    assert rows["1234507"]["lost"] == "SigmoidGate -0.5 (backward gọi được hai lần)"
    assert rows["1234507"]["grade"] == "9.9"
    # no unbroadcast: the gradient-shape check, in the cases that broadcast
    assert rows["1234509"]["lost"] == ("AddGate -0.5 (backward trả về một gradient cho mỗi "
                                       "đầu vào, đúng shape của đầu vào đó)")
    assert ";" not in rows["1234509"]["lost"]
    feedback = (out / "feedback" / "1234506.txt").read_text(encoding="utf-8")
    # the assignment says language = "vi": the reasons are in Vietnamese too
    assert ("có phải ý bạn là lớp CosineGate của bạn? Bạn hãy đổi tên lớp đó thành CosGate"
            in feedback)
    assert feedback.splitlines()[1] == "Điểm: 8.0/10 (80.0%, 40.00/50.00 điểm)"


def test_the_filled_worksheet_is_what_moodle_imports_and_nothing_else_changed(moodle_run):
    _, out, worksheet = moodle_run
    filled = (out / "moodle-worksheet.csv").read_text(encoding="utf-8")
    imported = moodle_accepts_worksheet(filled)
    assert imported["1234501"][0] == "10.0" and imported["1234507"][0] == "9.9"
    assert imported["1234508"] == ("", "")                      # no submission: no grade
    assert imported["1234505"][1].startswith("Điểm: 8.7/10")
    before = list(csv.reader(io.StringIO(worksheet.read_text(encoding="utf-8"))))
    after = list(csv.reader(io.StringIO(filled.lstrip("\ufeff"))))
    assert after[0] == before[0] and len(after) == len(before)
    grade, comments = WORKSHEET_HEADER.index("Grade"), WORKSHEET_HEADER.index("Feedback comments")
    for old, new in zip(before, after):
        assert [c for k, c in enumerate(old) if k not in (grade, comments)] == \
            [c for k, c in enumerate(new) if k not in (grade, comments)]


def test_the_feedback_zip_maps_every_file_to_its_student_as_moodle_reads_it(moodle_run):
    _, out, _ = moodle_run
    with zipfile.ZipFile(out / "moodle-feedback.zip") as z:
        targets = {moodle_feedback_target(n): z.read(n).decode("utf-8") for n in z.namelist()}
    assert set(targets) == set(MOODLE_CLASS)
    assert "Bài tập 1: các cổng: Vũ Quốc Khánh" in targets["1234506"]


def test_the_outputs_are_stamped_and_one_student_can_be_regraded_and_merged(moodle_run):
    tmp, out, worksheet = moodle_run
    rows = list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig"))))
    fingerprint = load_assignment(tmp / "assignment.toml").fingerprint()
    assert {(r["seed"], r["rubric"]) for r in rows} == {("73519", fingerprint)}
    assert all(r["numpy"] and r["scipy"] and r["compgraph"] for r in rows)
    # what students read names the rubric and versions, never the term's seed
    for r in rows:
        text = (out / "feedback" / f"{r['id']}.txt").read_text(encoding="utf-8")
        assert f"rubric {fingerprint}" in text and f"numpy {r['numpy']}" in text
        assert "73519" not in text.replace(r["run_seed"], "")
    before = {r["id"]: r["run_seed"] for r in rows}
    assert cli_main(["grade", "--batch", str(tmp / "CS101-Bai tap 1-52.zip"),
                     "--assignment", str(tmp / "assignment.toml"), "--out", str(out),
                     "--moodle-worksheet", str(worksheet), "--only", "Đặng Thị Lan"]) == 0
    after = {r["id"]: r for r in csv.DictReader(
        io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig")))}
    assert sorted(after) == sorted(before)
    changed = [pid for pid in before if after[pid]["run_seed"] != before[pid]]
    assert changed == ["1234507"] and after["1234507"]["grade"] == "9.9"
    # a different seed would mix two terms in one file: refused
    assert cli_main(["grade", "--batch", str(tmp / "CS101-Bai tap 1-52.zip"),
                     "--assignment", str(tmp / "assignment.toml"), "--out", str(out),
                     "--seed", "1", "--only", "1234507"]) == 2


CANVAS_CLASS = {
    "98765": ("nguyễnvănan", "Nguyễn, Văn An", "98765_1111_gates_hw.py", HONEST.encode()),
    "98766": ("trầnthịbình", "Trần, Thị Bình", "late_98766_1112_gates_hw-1.py",
              b"\xef\xbb\xbf" + HONEST.replace("\n", "\r\n").encode()),
    "98767": ("đặngthịlan", "Đặng, Thị Lan", "98767_1113_gates_hw.py", MUTATED_CACHE.encode()),
}


def test_a_canvas_export_and_gradebook_give_an_importable_gradebook(tmp_path):
    export = tmp_path / "CS101-Bai_tap_1_submissions.zip"
    with zipfile.ZipFile(export, "w") as z:
        for _, (lastfirst, _, tail, data) in CANVAS_CLASS.items():
            z.writestr(f"{lastfirst}_{tail}", data)
    book = tmp_path / "gradebook.csv"
    title = "Bài tập 1 (4321)"
    lines = ["Student,ID,SIS User ID,SIS Login ID,Section,Bài tập 0 (4320),"
             f"{title},Current Score,Final Score",
             "    Points Possible,,,,,5.00,10.00,(read only),(read only)"]
    for uid, (_, student, _, _) in CANVAS_CLASS.items():
        lines.append(f'"{student}",{uid},SV{uid},{uid}@st.example.edu.vn,CS101 L01,4.5,,90,90')
    lines.append('"Bùi, Văn Minh",98768,SV98768,98768@st.example.edu.vn,CS101 L01,5,,100,100')
    book.write_text("\n".join(lines) + "\n", encoding="utf-8")
    toml = tmp_path / "assignment.toml"
    toml.write_text(ASSIGNMENT.replace('lms = "moodle"', 'lms = "canvas"')
                    .replace('language = "vi"', 'language = "en"'), encoding="utf-8")
    out = tmp_path / "graded"
    assert cli_main(["grade", "--batch", str(export), "--assignment", str(toml), "--out",
                     str(out), "--canvas-gradebook", str(book),
                     "--canvas-assignment", title]) == 0
    rows = list(csv.reader(io.StringIO(
        (out / "canvas-gradebook.csv").read_text(encoding="utf-8-sig"))))
    header = rows[0]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert title in header and "Bài tập 0 (4320)" not in header   # only the one column
    column = header.index(title)
    scores = {r[1]: r[column] for r in rows[1:] if r[1]}
    assert scores == {"98765": "10.0", "98766": "10.0", "98767": "9.9", "98768": ""}
    assert rows[1][0].strip() == "Points Possible" and rows[1][column] in ("10.00", "10")
    graded = {r["id"]: r for r in csv.DictReader(
        io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig")))}
    assert set(graded) == set(CANVAS_CLASS)


def test_grades_round_half_up_on_the_course_scale():
    scale = Scale(10, 1, "half-up")
    assert round(8.95, 1) == 8.9                       # Python's float rounding
    assert scale.grade(179 / 200) == "9.0"             # 8.95 -> 9.0, as the rules say
    assert scale.grade(0.8949) == "8.9" and scale.grade(1.0) == "10.0"
    assert Scale(10, 1, "half-even").grade(0.885) == "8.8"
    assert Scale(20, 2).grade(0.123456) == "2.47"


def test_a_name_moodle_kept_an_underscore_in_still_gives_a_feedback_zip(tmp_path):
    from gates.grade.exports import read_export
    from gates.grade.lms import write_moodle_feedback_zip

    export = tmp_path / "export"
    (export / "Lê_Văn_Tám_1234510_assignsubmission_file").mkdir(parents=True)
    (export / "Lê_Văn_Tám_1234510_assignsubmission_file" / "hw.py").write_text(HONEST)
    (student,) = read_export(export)
    assert student.lms_id == "1234510" and student.moodle_prefix == "Lê Văn Tám_1234510"
    write_moodle_feedback_zip(tmp_path / "f.zip", [(student.moodle_prefix, "ok")])
    with zipfile.ZipFile(tmp_path / "f.zip") as z:
        assert [moodle_feedback_target(n) for n in z.namelist()] == ["1234510"]
