"""The summary of a run_on_device.sh run, from the files it left in its folder.

    python -m tests.gpu.device_summary OUT_DIR    (writes OUT_DIR/summary.md and prints it)
"""
import json
import pathlib
import sys
import xml.etree.ElementTree as ElementTree

MAX_FAILURES_LISTED = 40


def main(argv=None):
    """Write and print the summary of the run in the folder argv[0]; exit 1 unless everything passed."""
    folder = pathlib.Path((argv or sys.argv[1:])[0])
    text, ok = summarize(folder)
    (folder / "summary.md").write_text(text)
    print(text)
    return 0 if ok else 1


def summarize(folder):
    """(markdown text, everything passed) for the run in `folder`."""
    lines = ["# tinydl on the device: summary", ""]
    environment = folder / "environment.txt"
    if environment.exists():
        lines += ["## Environment", "```", environment.read_text().strip(), "```", ""]
    tests_ok = _tests(folder, lines)
    examples_ok = _examples(folder, lines)
    timing = folder / "seconds.txt"
    if timing.exists():
        lines += ["## Time", timing.read_text().strip(), ""]
    ok = tests_ok and examples_ok
    lines.insert(1, f"**{'PASSED' if ok else 'FAILED'}**")
    return "\n".join(lines) + "\n", ok


def _tests(folder, lines):
    """Append the pytest counts and failures; True when the tests ran and none failed."""
    xml = folder / "pytest.xml"
    lines.append("## Tests (tests/gpu, the GPU test files, the op registry and the layer contract on the device)")
    if not xml.exists():
        lines += ["no pytest.xml: the tests did not run to the end (see pytest.log)", ""]
        return False
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed = []
    for suite in ElementTree.parse(xml).getroot().iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            for bad in list(case.findall("failure")) + list(case.findall("error")):
                message = (bad.get("message") or "").strip().splitlines()
                failed.append(f"{case.get('classname')}::{case.get('name')}: {message[0] if message else ''}")
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    lines.append(f"{passed} passed, {counts['failures']} failed, {counts['errors']} errors, "
                 f"{counts['skipped']} skipped")
    lines += [f"- {f[:300]}" for f in failed[:MAX_FAILURES_LISTED]]
    if len(failed) > MAX_FAILURES_LISTED:
        lines.append(f"- ... and {len(failed) - MAX_FAILURES_LISTED} more (pytest.log)")
    lines.append("")
    return counts["tests"] > 0 and not failed


def _examples(folder, lines):
    """Append the example runs' table; True when every example reached its CPU figure."""
    report = folder / "examples.json"
    lines.append("## Examples (fit on the device vs the same run on the CPU)")
    if not report.exists():
        lines += ["no examples.json: no example run finished (see examples.log)", ""]
        return False
    rows = json.loads(report.read_text())
    expected = (folder / "examples.expected").read_text().split() if (folder / "examples.expected").exists() else []
    rows += [{"name": n, "example": "", "figure": "", "passed": False, "error": "did not finish (time limit?)"}
             for n in expected if n not in {row["name"] for row in rows}]
    lines += ["| example | figure | CPU | device | CPU s | device s | result |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        result = "pass" if row["passed"] else f"FAIL {row.get('error', '')}"[:200]
        lines.append(f"| {row['name']} ({row['example']}) | {row['figure']} | {_fmt(row.get('cpu_value'))} | "
                     f"{_fmt(row.get('device_value'))} | {row.get('cpu_seconds', '')} | "
                     f"{row.get('device_seconds', '')} | {result} |")
    lines.append("")
    return bool(rows) and all(row["passed"] for row in rows)


def _fmt(value):
    return "" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
