"""Write sample reports (scan report, batch index, signed audit) and Chromium screenshots.

    python reports/make_samples.py [--out DIR]

Builds a throwaway studio (fixtures/report_studio.py: real generations, one consent revoked
after its video), scans both videos, writes DIR/scan/ (pages + index.html), DIR/AUDIT.html
(+ .json, .json.sig) and, when Debian's chromium is installed, DIR/*.png screenshots.

DIR is emptied first only when this script made it: a new or empty folder is used, a folder
holding the marker file an earlier run left (``.trustavatar-report-samples``) is cleared, and
anything else (a folder with other files, a file, a link) is refused with exit 2, untouched.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.report_studio import make_report_studio  # noqa: E402

MARKER = ".trustavatar-report-samples"  # written into DIR: "this script made this folder"


def prepare_out(out: Path) -> str | None:
    """Make ``out`` an empty folder of this script's, or say why not (nothing touched)."""
    if out.is_symlink():
        return f"--out {out} is a symbolic link: give a folder"
    if out.exists() and not out.is_dir():
        return f"--out {out} exists and is not a folder"
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            return (f"--out {out} is a folder that is not empty and was not made by this script "
                    f"(no {MARKER} in it): it is left as it is; give a new or empty folder")
        shutil.rmtree(out)  # an earlier run's samples
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by reports/make_samples.py; the next run deletes this "
                              "folder and writes it again\n")
    return None


def screenshot(page: Path, png: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium not found: no screenshots (apt-get install chromium)", file=sys.stderr)
        return
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--hide-scrollbars",
                    f"--user-data-dir={png.parent / '.chromium'}", "--window-size=1100,2600",
                    f"--screenshot={png}", page.as_uri()], capture_output=True, check=False,
                   timeout=120)


def main(argv: list[str] | None = None) -> int:
    from trustavatar._cli.report import write_reports
    from trustavatar.detector import scan
    from trustavatar.reports import build_audit, write_audit

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/trustavatar-report-samples"))  # noqa: S108
    args = ap.parse_args(argv)
    refused = prepare_out(args.out)
    if refused is not None:
        print(f"make_samples.py: {refused}", file=sys.stderr)
        return 2
    studio = make_report_studio(args.out / "studio")
    results = [scan(v, trust=studio.keystore.trust_store()).to_dict() for v in studio.videos]
    done = write_reports(results, [], str(args.out / "scan"), force=True)
    paths = write_audit(build_audit(studio.home), args.out / "AUDIT.html",
                        studio.keystore.signing_key())
    screenshot(Path(done["reports"][0]), args.out / "scan-report.png")
    screenshot(Path(done["index"]), args.out / "scan-index.png")
    screenshot(paths["html"], args.out / "audit-report.png")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
