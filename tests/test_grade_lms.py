"""Reading LMS exports (Moodle, Canvas, plain folders) safely, and writing back the files
Moodle and Canvas import: the exports are built here with the member names the LMS
writes, and hostile ones with what an attacker would put in them."""

import csv
import io
import os
import stat
import struct
import threading
import unicodedata
import zipfile

import pytest

from gates.grade.archive import ArchiveError, read_folder, read_zip
from gates.grade.exports import find_student, read_export
from gates.grade.submission import assemble
from gates.grade.lms import (GradebookError, WorksheetError, canvas_import_csv,
                             fill_moodle_worksheet, read_canvas_gradebook,
                             read_moodle_worksheet, write_moodle_feedback_zip)

AN = "Nguyễn Văn An"


def make_zip(path, members):
    """Write ``members`` ((name or ZipInfo, bytes or str)) to a zip at ``path``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def symlink_info(name):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def by_key(students):
    return {s.key: s for s in students}


def files_of(student):
    return {f.name: f.data for f in student.files}


# ---- Moodle submissions download -------------------------------------------------------

def test_moodle_folders_one_student_each_with_onlinetext_merged(tmp_path):
    export = make_zip(tmp_path / "CS101-HW1-42.zip", [
        (f"{AN}_1234567_assignsubmission_file/hw.py", "class Add: pass\n"),
        (f"{AN}_1234567_assignsubmission_file/src/helpers.py", "x = 1\n"),
        (f"{AN}_1234567_assignsubmission_onlinetext/onlinetext.html", "<p>hi</p>"),
        ("Lê_Thị Hoa_3456789_assignsubmission_file/gates.py", "# underscore kept\n"),
        ("Participant_4567890_assignsubmission_file/hw.py", "# blind\n"),
        ("Trần Bình_5678901_assignsubmission_file_/hw.py", "# Moodle 3.1-4.0 folder\n"),
    ])
    students = read_export(export)
    assert [s.key for s in students] == ["3456789", "1234567", "4567890", "5678901"]  # by name
    s = by_key(students)
    an = s["1234567"]
    assert (an.name, an.lms, an.lms_id, an.moodle_prefix) == (AN, "moodle", "1234567",
                                                              f"{AN}_1234567")
    assert files_of(an) == {"hw.py": b"class Add: pass\n", "src/helpers.py": b"x = 1\n",
                            "assignsubmission_onlinetext/onlinetext.html": b"<p>hi</p>"}
    assert any("onlinetext" in n for n in an.notes)
    assert s["3456789"].name == "Lê_Thị Hoa"
    assert s["4567890"].name == "Participant"
    assert s["4567890"].moodle_prefix == "Participant_4567890"
    assert files_of(s["5678901"]) == {"hw.py": b"# Moodle 3.1-4.0 folder\n"}


def test_moodle_flat_form_and_the_old_blind_name(tmp_path):
    export = make_zip(tmp_path / "flat.zip", [
        (f"{AN}_1234567_assignsubmission_file_hw.py", "a"),
        (f"{AN}_1234567_assignsubmission_file_my_gates.py", "b"),
        (f"{AN}_1234567_assignsubmission_onlinetext_onlinetext.html", "c"),
        ("Participant 7654321_7654321_assignsubmission_file_hw.py", "d"),
    ])
    s = by_key(read_export(export))
    assert set(s) == {"1234567", "7654321"}
    assert files_of(s["1234567"]) == {"hw.py": b"a", "my_gates.py": b"b",
                                      "assignsubmission_onlinetext/onlinetext.html": b"c"}
    assert s["7654321"].name == "Participant 7654321"


def test_a_folder_around_the_export_is_looked_into(tmp_path):
    export = make_zip(tmp_path / "wrapped.zip", [
        (f"submissions/{AN}_1234567_assignsubmission_file/hw.py", "a")])
    (student,) = read_export(export)
    assert (student.key, files_of(student)) == ("1234567", {"hw.py": b"a"})


def test_the_unzipped_moodle_folder_reads_the_same(tmp_path):
    folder = tmp_path / "export" / f"{AN}_1234567_assignsubmission_file"
    folder.mkdir(parents=True)
    (folder / "hw.py").write_text("a")
    decomposed = unicodedata.normalize("NFD", "Lê Thị Hoa_3456789_assignsubmission_file_x.py")
    (tmp_path / "export" / decomposed).write_text("b")     # as a Mac names it
    s = by_key(read_export(tmp_path / "export"))
    assert files_of(s["1234567"]) == {"hw.py": b"a"}
    assert s["3456789"].name == "Lê Thị Hoa" and files_of(s["3456789"]) == {"x.py": b"b"}


# ---- Canvas submissions download -------------------------------------------------------

def test_canvas_students_late_resubmission_and_text_entry(tmp_path):
    export = make_zip(tmp_path / "CS101-hw1_submissions.zip", [
        ("nguyễnvănan_98765_1234567_hw.py", "first"),
        ("nguyễnvănan_98765_1234568_hw-1.py", "second"),
        ("smithbob_LATE_45678_2222222_gates.py", "late"),
        ("o_brienpat_55555_3333333_my_gates.py", "underscores"),
        ("doejane_77777_text.html", "<p>text</p>"),
        ("late_66666_4444444_anon.py", "old anonymous, late"),
        ("LATE_anon_Xy3z9_5555555_hw.py", "anonymous grading"),
    ])
    s = by_key(read_export(export))
    assert set(s) == {"canvas-98765", "canvas-45678", "canvas-55555", "canvas-77777",
                      "canvas-66666", "canvas-anon-Xy3z9"}
    assert files_of(s["canvas-anon-Xy3z9"]) == {"hw.py": b"anonymous grading"}
    an = s["canvas-98765"]
    assert (an.name, an.lms, an.lms_id) == ("nguyễnvănan", "canvas", "98765")
    assert files_of(an) == {"hw.py": b"first", "hw-1.py": b"second"}
    assert any("late" in n for n in s["canvas-45678"].notes)
    assert not any("late" in n for n in an.notes)
    assert files_of(s["canvas-55555"]) == {"my_gates.py": b"underscores"}
    assert s["canvas-55555"].name == "o_brienpat"
    assert any("online text" in n for n in s["canvas-77777"].notes)
    assert any("late" in n for n in s["canvas-66666"].notes)


# ---- plain folders and mixes -----------------------------------------------------------

def test_plain_folder_files_folders_and_zips(tmp_path):
    root = tmp_path / "class"
    (root / "bob").mkdir(parents=True)
    (root / "alice.py").write_text("a")
    (root / "bob" / "gates.py").write_text("b")
    (root / "notes.txt").write_text("not a student")
    (root / "Võ Thị Lan.ipynb").write_text("{}")
    make_zip(root / "carol.zip", [("gates.py", "c"), ("../up.py", "x")])
    make_zip(root / f"{AN}_1234567_assignsubmission_file_hw.py", [])   # mixed: Moodle flat
    loose = []
    s = by_key(read_export(root, notes=loose))
    assert set(s) == {"alice", "bob", "carol", "Vo-Thi-Lan", "1234567"}
    assert files_of(s["alice"]) == {"alice.py": b"a"} and s["alice"].lms is None
    assert files_of(s["bob"]) == {"gates.py": b"b"}
    # a student's zip stays one file: the submission opens it once, on its own budget
    assert list(files_of(s["carol"])) == ["carol.zip"]
    carol = assemble(s["carol"].files, ["AddGate"], "carol")
    assert carol.files == {"gates.py": b"c"}
    assert any("../up.py" in n for n in carol.notes)
    assert s["Vo-Thi-Lan"].name == "Võ Thị Lan"
    assert s["1234567"].lms == "moodle"
    assert any("notes.txt" in n for n in loose)


def test_find_student(tmp_path):
    export = make_zip(tmp_path / "e.zip", [(f"{AN}_1234567_assignsubmission_file/a.py", "")])
    students = read_export(export)
    assert find_student(students, "1234567").name == AN
    assert find_student(students, AN.upper()).key == "1234567"
    with pytest.raises(LookupError, match="close: Nguyễn Văn An"):
        find_student(students, "Nguyễn Văn Anh")


# ---- hostile zips ----------------------------------------------------------------------

def test_hostile_zip_members_are_noted_never_read(tmp_path):
    an = f"{AN}_1234567_assignsubmission_file"
    export = make_zip(tmp_path / "evil.zip", [
        ("../evil.py", "climb"), ("/abs.py", "absolute"), ("a\\..\\..\\win.py", "backslash"),
        (symlink_info(f"{an}/link.py"), "/etc/passwd"),
        (f"{an}/big.py", "x" * 5000), (f"{an}/hw.py", "fine"),
        ("__MACOSX/._hw.py", "fork"), (f"{an}/.DS_Store", "meta"),
    ])
    loose = []
    (student,) = read_export(export, max_member=1000, notes=loose)
    assert files_of(student) == {"hw.py": b"fine"}
    notes = " | ".join(student.notes)
    assert "link.py" in notes and "symbolic link" in notes
    assert "big.py" in notes and "more than 1000" in notes
    everything = " | ".join(loose)
    for name in ("../evil.py", "/abs.py", "win.py", "hidden"):
        assert name in everything


def test_a_member_whose_header_lies_about_its_size_is_not_kept(tmp_path):
    path = make_zip(tmp_path / "liar.zip", [("bomb.py", b"\0" * (1 << 20)), ("ok.py", "ok")])
    data = bytearray(path.read_bytes())
    real = struct.pack("<I", 1 << 20)
    assert data.count(real) == 2            # local header and central directory
    data = data.replace(real, struct.pack("<I", 10))
    files, notes = read_zip(bytes(data), max_member=1000)
    assert [f.name for f in files] == ["ok.py"]
    assert any("bomb.py" in n for n in notes)


def test_nul_names_encrypted_members_and_caps(tmp_path):
    path = make_zip(tmp_path / "z.zip", [("xAy.py", "nul"), ("ok.py", "ok")])
    raw = path.read_bytes().replace(b"xAy.py", b"x\0y.py")
    files, notes = read_zip(raw)
    assert [f.name for f in files] == ["ok.py"] and any("NUL" in n for n in notes)

    raw = bytearray(make_zip(tmp_path / "e.zip", [("secret.py", "x")]).read_bytes())
    for signature, flags_at in ((b"PK\3\4", 6), (b"PK\1\2", 8)):   # the 'encrypted' bit
        raw[raw.index(signature) + flags_at] |= 0x1
    files, notes = read_zip(bytes(raw))
    assert files == [] and any("encrypted" in n for n in notes)

    many = make_zip(tmp_path / "many.zip", [(f"f{i:02}.py", "x") for i in range(30)])
    files, notes = read_zip(many, max_members=10)
    assert len(files) == 10 and any("stopped after 10" in n for n in notes)
    files, notes = read_zip(many, max_total=5)
    assert len(files) == 5 and any("passed 5 bytes" in n for n in notes)
    files, _ = read_zip(many, keep=lambda name: name.startswith("f0"))
    assert len(files) == 10


def test_not_a_zip_names_the_file(tmp_path):
    bad = tmp_path / "export.zip"
    bad.write_bytes(b"PK\3\4 this is not a zip")
    with pytest.raises(ArchiveError, match="export.zip"):
        read_zip(bad)
    with pytest.raises(ArchiveError, match="export.zip"):
        read_export(bad)


# ---- hostile folders -------------------------------------------------------------------

def test_folder_symlinks_fifos_and_symlinked_folders_are_not_followed(tmp_path):
    outside = tmp_path / "teacher"
    (outside / "private").mkdir(parents=True)
    (outside / "secret.py").write_text("SECRET")
    (outside / "private" / "key.py").write_text("SECRET")
    root = tmp_path / "export"
    an = root / f"{AN}_1234567_assignsubmission_file"
    an.mkdir(parents=True)
    (an / "hw.py").write_text("fine")
    os.symlink(outside / "secret.py", an / "secret.py")
    os.mkfifo(an / "pipe.py")
    os.symlink(outside / "private", root / "Trần Bình_5678901_assignsubmission_file")
    os.symlink(outside / "private", root / "mallory")

    result = {}
    worker = threading.Thread(target=lambda: result.update(s=read_export(root)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "reading the export blocked"
    s = by_key(result["s"])
    assert files_of(s["1234567"]) == {"hw.py": b"fine"}
    notes = " | ".join(s["1234567"].notes)
    assert "secret.py" in notes and "symbolic link" in notes
    assert "pipe.py" in notes and "FIFO" in notes
    for key in ("5678901", "mallory"):
        assert s[key].files == [] and any("symbolic link" in n for n in s[key].notes)
    assert all(b"SECRET" not in f.data for st in s.values() for f in st.files)

    files, notes = read_folder(an, max_member=2)
    assert files == [] and any("more than 2" in n for n in notes)


# ---- Moodle offline grading worksheet --------------------------------------------------

HEADER = ('Identifier,"Full name","Email address",Status,Grade,"Maximum Grade",'
          '"Grade can be changed","Last modified (submission)","Online text",'
          '"Last modified (grade)","Feedback comments"')
ROWS = [
    f'"Participant 1234567","{AN}",an@example.edu,"Submitted for grading",,10.00,Yes,'
    '"Monday, 1 December 2025, 10:00 AM","<p>see ""attached""</p>",-,',
    '"Participant 2345678","Mary Jane Watson",mj@example.edu,"Submitted for grading - Graded",'
    '7.00,10.00,Yes,"Monday, 1 December 2025, 9:00 AM",,"Monday, 1 December 2025, 11:00 AM",'
    '"Good start"',
    '"Participant 3456789","Lê Thị Hoa",hoa@example.edu,"No submission",,10.00,Yes,-,,-,',
    '"Participant 4567890","Trần Bình",binh@example.edu,"Submitted for grading",,20.00,Yes,'
    '"Monday, 1 December 2025, 8:00 AM",,-,',
]


def two(x):
    return f"{x:.2f}"


def write_sheet(tmp_path, header=HEADER, rows=ROWS, newline="\n", bom=True):
    path = tmp_path / "Grading worksheet-CS101-HW1-42.csv"
    path.write_bytes((("\ufeff" if bom else "") + newline.join([header, *rows])
                      + newline).encode("utf-8"))
    return path


def test_worksheet_fill_changes_only_grade_and_feedback(tmp_path):
    ws = read_moodle_worksheet(write_sheet(tmp_path))
    assert ws.participants == ["1234567", "2345678", "3456789", "4567890"]
    assert (ws.bom, ws.delimiter, ws.newline, ws.quoting) == (True, ",", "\n", "spaces")
    grades = {"1234567": (0.85, 'Tốt lắm, "An"'), "4567890": (0.5, "ok"),
              "9999999": (1.0, "nobody")}
    text, notes = fill_moodle_worksheet(ws, grades, two)
    assert text.startswith("\ufeff" + HEADER + "\n")
    lines = text[1:].split("\n")
    assert lines[2:4] == ROWS[1:3]            # ungraded rows: byte for byte
    assert lines[1] == (f'"Participant 1234567","{AN}",an@example.edu,"Submitted for grading",'
                        '8.50,10.00,Yes,"Monday, 1 December 2025, 10:00 AM",'
                        '"<p>see ""attached""</p>",-,"Tốt lắm, ""An"""')
    before = list(csv.reader(io.StringIO("\n".join([HEADER, *ROWS]))))
    after = list(csv.reader(io.StringIO(text[1:])))
    assert after[0] == before[0] and len(after) == len(before)
    for old, new in zip(before[1:], after[1:]):
        changed = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
        assert set(changed) <= {4, 10}
    assert after[4][4:6] == ["10.00", "20.00"] and after[4][10] == "ok"
    assert after[3][4] == ""                  # no submission, no grade: still empty
    assert any("9999999" in n and "not dropped" in n for n in notes)


def test_worksheet_keeps_crlf_semicolons_and_no_bom(tmp_path):
    header = HEADER.replace(",", ";")
    row = '"Participant 1234567";"An";a@b;Submitted;;10.00;Yes;-;;-;'
    ws = read_moodle_worksheet(write_sheet(tmp_path, header, [row], "\r\n", bom=False))
    text, _ = fill_moodle_worksheet(ws, {"1234567": (1.0, "")}, two)
    assert text == header + "\r\n" + row.replace(";;10.00", ";10.00;10.00") + "\r\n"


def test_vietnamese_worksheet_and_decimal_comma(tmp_path):
    header = ('Identifier,"Tên đầy đủ","Trạng thái",Điểm,"Điểm tối đa","Điểm có thể sửa",'
              '"Lần cuối sửa (điểm)","Bình luận phản hồi"')
    row = '"Thành viên1234567","Nguyễn Văn An",Nộp,,"10,00",Có,-,'
    ws = read_moodle_worksheet(write_sheet(tmp_path, header, [row]))
    text, notes = fill_moodle_worksheet(ws, {"1234567": (0.85, "Tốt")}, two)
    assert list(csv.reader(io.StringIO(text[1:])))[1] == [
        "Thành viên1234567", AN, "Nộp", "8.50", "10,00", "Có", "-", "Tốt"]
    assert notes == []


def test_worksheet_without_identifier_lists_the_headers(tmp_path):
    path = write_sheet(tmp_path, "Name,Grade,Maximum Grade", ["An,,10"])
    with pytest.raises(WorksheetError, match=r"Identifier.*'Name', 'Grade', 'Maximum Grade'"):
        read_moodle_worksheet(path)


def test_worksheet_feedback_column_missing_is_a_note(tmp_path):
    header = HEADER.rsplit(",", 1)[0]
    rows = [r.rsplit(",", 1)[0] for r in ROWS]
    ws = read_moodle_worksheet(write_sheet(tmp_path, header, rows))
    text, notes = fill_moodle_worksheet(ws, {"1234567": (1.0, "great")}, two)
    assert "great" not in text and any("Feedback comments" in n for n in notes)


def test_round_grade_must_give_a_plain_number(tmp_path):
    ws = read_moodle_worksheet(write_sheet(tmp_path))
    with pytest.raises(ValueError, match="1234567"):
        fill_moodle_worksheet(ws, {"1234567": (0.5, "")}, lambda x: "5,00")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fill_moodle_worksheet(ws, {"1234567": (1.5, "")}, two)


# ---- Moodle feedback files zip ---------------------------------------------------------

def test_feedback_zip_members_as_moodle_imports_them(tmp_path):
    out = write_moodle_feedback_zip(tmp_path / "feedback.zip",
                                    [(f"{AN}_1234567", "Điểm: 8.5/10\n"),
                                     ("Participant_4567890", "ok")])
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names == [f"{AN}_1234567_assignfeedback_file/feedback.txt",
                         "Participant_4567890_assignfeedback_file/feedback.txt"]
        assert zf.getinfo(names[0]).flag_bits & 0x800          # UTF-8 name flag
        assert zf.read(names[0]).decode("utf-8") == "Điểm: 8.5/10\n"
    for name in names:   # Moodle's importer: explode('_', part, 5) on each path part
        info = name.split("/")[0].split("_", 4)
        assert len(info) >= 4 and info[1].isdigit() and info[2:4] == ["assignfeedback", "file"]
    with pytest.raises(ValueError, match="Mary_Jane"):
        write_moodle_feedback_zip(tmp_path / "bad.zip", [("Mary_Jane Watson_2345678", "x")])
    assert not (tmp_path / "bad.zip").exists()


# ---- Canvas gradebook ------------------------------------------------------------------

GRADEBOOK = "\n".join([
    "Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (4567),Lab 2 (4568),"
    "Current Score,Unposted Current Score,Final Score,Unposted Final Score",
    ",,,,,Manual Posting,,,,,",
    "    Points Possible,,,,,20.00,10.00,(read only),(read only),(read only),(read only)",
    '"Nguyễn, Văn An",98765,sv001,an@uni.edu,Section A,,8.00,80.00,80.00,26.67,26.67',
    '"Smith, Bob",45678,sv002,bob@uni.edu,Section A,12.00,N/A,60.00,60.00,60.00,60.00',
    '"Student, Test",11111,,d41d8cd9,Section A,,,,,,',
]) + "\n"


def test_canvas_import_csv_on_points_possible(tmp_path):
    path = tmp_path / "2025-12-01T1000_Grades-CS101.csv"
    path.write_text(GRADEBOOK, encoding="utf-8")
    gb = read_canvas_gradebook(path)
    assert gb.assignments == ["Homework 1 (4567)", "Lab 2 (4568)"]
    assert len(gb.students) == 3
    text, notes = canvas_import_csv(gb, "Homework 1 (4567)",
                                    {"98765": 0.9, "canvas-45678": 0.5, "00000": 1.0}, two)
    assert list(csv.reader(io.StringIO(text))) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (4567)"],
        ["    Points Possible", "", "", "", "", "20.00"],
        ["Nguyễn, Văn An", "98765", "sv001", "an@uni.edu", "Section A", "18.00"],
        ["Smith, Bob", "45678", "sv002", "bob@uni.edu", "Section A", "10.00"],
        ["Student, Test", "11111", "", "d41d8cd9", "Section A", ""],
    ]
    assert any("00000" in n for n in notes)


def test_canvas_unknown_assignment_lists_the_columns(tmp_path):
    path = tmp_path / "grades.csv"
    path.write_bytes(("\ufeff" + GRADEBOOK.replace(",", ";")).encode("utf-8"))
    gb = read_canvas_gradebook(path)
    assert gb.bom and gb.delimiter == ";"
    with pytest.raises(GradebookError, match=r"'Homework 1 \(4567\)'; 'Lab 2 \(4568\)'$"):
        canvas_import_csv(gb, "Homework 3 (9999)", {}, two)
    text, _ = canvas_import_csv(gb, "Lab 2 (4568)", {"98765": 1.0}, two)
    assert text.startswith("\ufeffStudent;ID;") and "an@uni.edu;Section A;10.00" in text


def test_empty_feedback_leaves_a_comment_typed_in_moodle(tmp_path):
    ws = read_moodle_worksheet(write_sheet(tmp_path))
    text, _ = fill_moodle_worksheet(ws, {"2345678": (0.9, "")}, two)
    row = list(csv.reader(io.StringIO(text[1:])))[2]
    assert (row[4], row[10]) == ("9.00", "Good start")
